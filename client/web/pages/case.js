// One case: GET /v1/cases/{id} with its timeline, and its changes: status (409
// invalid_transition shown as a message), details (priority, follow-up, assignee, label,
// summary), a note, a referral and its state, link and unlink contacts.
// Writers (creator, assignee, admins) see and change everything; supervisors everything but the
// sealed fields; other counsellors see metadata only, and the server refuses their changes.
import {h, put, field, select, when} from '../lib/dom.js';
import {voptions, vname, VOCAB} from '../lib/vocab.js';
import {localInput, indexTaxonomy, catName} from '../lib/contactform.js';

export async function render(root, params, ctx) {
  const {t} = ctx;
  const base = '/v1/cases/' + encodeURIComponent(params.id);
  const [c, tax] = await Promise.all([ctx.api('GET', base), ctx.taxonomy()]);
  const index = indexTaxonomy(tax);
  const role = ctx.session.role;
  const writer = c.label !== undefined;
  const manager = writer || role === 'supervisor' || role === 'admin';
  const msg = h('p', {id: 'case-message', role: 'status', 'aria-live': 'polite'});
  const timeline = c.timeline || [];

  // Runs a change, then shows the case again with a message (or the error where it stands).
  async function change(method, path, body, done, out) {
    try {
      await ctx.api(method, path, body);
      await render(put(root), params, ctx);
      const m = root.querySelector('#case-message');
      if (m) { m.textContent = done; m.setAttribute('tabindex', '-1'); m.focus(); }
    } catch (e) {
      const where = out || msg;
      where.textContent = e.code === 'invalid_transition' ? t('case.invalid_transition')
        : e.code === 'already_linked' ? t('log.link_already') : ctx.errorText(e);
    }
  }
  const localMsg = (id) => h('p', {id, class: 'error', role: 'alert'});

  // Referrals: the latest state of each, from its entries.
  const referrals = new Map();
  for (const e of timeline) if (e.kind === 'referral') referrals.set(e.referral_id, e);
  // Contacts linked now: the last entry per contact is a link.
  const links = new Map();
  for (const e of timeline) if (e.kind === 'contact') links.set(e.contact_id, e);
  const linked = Array.from(links.values()).filter((e) => !e.unlinked);

  const entry = (e) => {
    let what;
    if (e.kind === 'status') {
      what = e.from ? t('case.entry_status', {from: vname('status', e.from), to: vname('status', e.to)}) : t('case.entry_opened');
    } else if (e.kind === 'contact') {
      what = [t(e.unlinked ? 'case.entry_unlinked' : 'case.entry_linked'), ' ',
        h('a', {href: '#/contacts/' + encodeURIComponent(e.contact_id)}, [vname('channel', e.channel), vname('contact_type', e.contact_type)].filter(Boolean).join(', ') || e.contact_id.slice(0, 8)),
        (e.categories || []).length ? h('div', {class: 'hint'}, e.categories.map((x) => catName(index, x)).join('; ')) : null];
    } else if (e.kind === 'note') {
      what = [t('case.entry_note'), e.text !== undefined ? h('div', {class: 'text'}, e.text) : h('div', {class: 'hint'}, t('case.hidden'))];
    } else if (e.kind === 'referral') {
      what = [t('case.entry_referral', {to: vname('referral_to', e.to), state: vname('referral_state', e.state)}),
        e.organisation ? h('div', null, t('case.organisation'), ': ', e.organisation) : null,
        e.details ? h('div', {class: 'text'}, e.details) : null];
    } else {
      what = e.kind;
    }
    return h('li', {class: 'entry entry-' + e.kind, 'data-id': e.id},
      h('div', {class: 'meta'}, when(e.at, ctx.lang()), ' · ', e.by || ''), h('div', null, what));
  };

  const props = h('dl', {class: 'props'},
    [[t('cases.status'), vname('status', c.status)], [t('cases.priority'), vname('priority', c.priority)],
      [t('cases.follow_up'), c.follow_up_at ? [when(c.follow_up_at, ctx.lang()), c.status !== 'closed' && new Date(c.follow_up_at) <= new Date()
        ? [' ', h('span', {class: 'badge overdue'}, t('cases.overdue_badge'))] : null] : t('common.none')],
      [t('cases.assigned_to'), c.assigned_to || t('cases.assigned_none')], [t('case.created_by'), c.created_by],
      [t('cases.created_at'), when(c.created_at, ctx.lang())],
      [t('case.closed_at'), c.closed_at ? when(c.closed_at, ctx.lang()) : null],
      [t('cases.contacts'), String(c.contacts_count ?? linked.length)]]
      .filter((p) => p[1] !== null).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));

  const parts = [h('h1', {id: 'case-title'}, writer ? c.label : t('cases.case_ref', {id: c.id.slice(0, 8)})), msg, props];
  if (writer && c.summary) parts.push(h('h2', null, t('cases.summary')), h('p', {class: 'pre', id: 'case-summary'}, c.summary));
  if (!writer && role === 'counsellor') parts.push(h('p', {class: 'hint'}, t('case.metadata_only')));

  if (manager) {
    // Status: every status is offered; the server says which moves are allowed (409).
    const st = select({id: 'case-status'}, voptions('status'));
    st.value = c.status === 'open' ? 'in_progress' : c.status === 'in_progress' ? 'closed' : 'in_progress';
    const stOut = localMsg('case-status-error');
    const stForm = h('form', {id: 'case-status-form', method: 'post'},
      h('div', {class: 'actions'}, field(t('case.new_status'), st),
        h('button', {type: 'submit', id: 'case-status-submit', class: 'primary'}, t('case.change_status'))), stOut);
    stForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      change('PATCH', base, {status: st.value}, t('case.status_changed'), stOut);
    });
    parts.push(h('h2', null, t('case.status_title')), stForm, details());
  }

  parts.push(h('h2', {id: 'timeline-title'}, t('case.timeline')),
    h('ol', {class: 'timeline', id: 'case-timeline', 'aria-labelledby': 'timeline-title'}, timeline.map(entry)));

  if (writer) parts.push(noteForm(), referralForm(), referralStates());
  if (manager) parts.push(linkForm());
  root.append(...parts);

  function details() {
    const pr = select({id: 'case-priority'}, voptions('priority'));
    pr.value = c.priority;
    const fu = h('input', {id: 'case-follow_up_at', type: 'datetime-local', value: c.follow_up_at ? localInput(c.follow_up_at) : ''});
    const as = h('input', {id: 'case-assigned_to', autocomplete: 'off', value: c.assigned_to || ''});
    const label = writer ? h('input', {id: 'case-label', maxlength: '200', value: c.label}) : null;
    const summary = writer ? h('textarea', {id: 'case-summary-edit', rows: '4', value: c.summary || ''}) : null;
    const out = localMsg('case-details-error');
    const form = h('form', {id: 'case-details', method: 'post'},
      writer ? field(t('cases.label'), label) : null, writer ? field(t('cases.summary'), summary) : null,
      h('div', {class: 'row'}, field(t('cases.priority'), pr), field(t('cases.follow_up'), fu),
        field(t('cases.assigned_to'), as, t(role === 'counsellor' ? 'case.assign_self_help' : 'cases.assign_help'))),
      h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'case-details-submit'}, t('common.save'))), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = {};
      if (pr.value !== c.priority) body.priority = pr.value;
      const f = fu.value ? new Date(fu.value).toISOString() : null;
      if ((f || null) !== (c.follow_up_at ? new Date(c.follow_up_at).toISOString() : null)) body.follow_up_at = f;
      const a = as.value.trim() || null;
      if (a !== (c.assigned_to || null)) body.assigned_to = a;
      if (writer && label.value.trim() !== c.label) body.label = label.value.trim();
      if (writer && summary.value !== (c.summary || '')) body.summary = summary.value || null;
      if (!Object.keys(body).length) { out.textContent = t('contact.unchanged'); return; }
      change('PATCH', base, body, t('case.details_saved'), out);
    });
    return h('details', {id: 'case-details-box'}, h('summary', null, t('case.edit_details')), form);
  }

  function noteForm() {
    const text = h('textarea', {id: 'note-text', rows: '4'});
    const out = localMsg('note-error');
    const form = h('form', {id: 'case-note', method: 'post'}, field(t('case.note'), text),
      h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'note-add', class: 'primary'}, t('case.add_note'))), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!text.value.trim()) { out.textContent = t('case.note_empty'); text.focus(); return; }
      change('POST', base + '/notes', {text: text.value}, t('case.note_added'), out);
    });
    return h('section', {'aria-labelledby': 'note-title'}, h('h2', {id: 'note-title'}, t('case.add_note')), form);
  }

  function referralForm() {
    const to = select({id: 'referral-to'}, voptions('referral_to'));
    const org = h('input', {id: 'referral-organisation', maxlength: '200', autocomplete: 'off'});
    const det = h('textarea', {id: 'referral-details', rows: '3'});
    const st = select({id: 'referral-state'}, voptions('referral_state'));
    const out = localMsg('referral-error');
    const form = h('form', {id: 'case-referral', method: 'post'},
      h('div', {class: 'row'}, field(t('case.referral_to'), to), field(t('case.organisation'), org), field(t('case.referral_state'), st)),
      field(t('case.referral_details'), det),
      h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'referral-add', class: 'primary'}, t('case.add_referral'))), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = {to: to.value, state: st.value};
      if (org.value.trim()) body.organisation = org.value.trim();
      if (det.value.trim()) body.details = det.value;
      change('POST', base + '/referrals', body, t('case.referral_added'), out);
    });
    return h('section', {'aria-labelledby': 'referral-title'}, h('h2', {id: 'referral-title'}, t('case.add_referral')), form);
  }

  function referralStates() {
    if (!referrals.size) return null;
    return h('section', {'aria-labelledby': 'referrals-title'}, h('h2', {id: 'referrals-title'}, t('case.referrals')),
      h('ul', {id: 'case-referrals'}, Array.from(referrals.values()).map((r) => {
        const s = select({id: 'referral-state-' + r.referral_id}, voptions('referral_state'));
        s.value = VOCAB.referral_state.find((x) => x !== r.state) || r.state;
        const out = h('span', {class: 'error', role: 'alert'});
        const form = h('form', {method: 'post', class: 'actions'},
          h('span', null, vname('referral_to', r.to) + (r.organisation ? ' — ' + r.organisation : '') + ': ',
            h('strong', null, vname('referral_state', r.state))),
          field(t('case.referral_new_state'), s),
          h('button', {type: 'submit', 'data-referral': r.referral_id}, t('case.referral_change')), out);
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          change('PATCH', base + '/referrals/' + encodeURIComponent(r.referral_id), {state: s.value}, t('case.referral_changed'), out);
        });
        return h('li', null, form);
      })));
  }

  function linkForm() {
    const id = h('input', {id: 'link-contact-id', autocomplete: 'off', spellcheck: 'false'});
    const out = localMsg('link-error');
    const form = h('form', {id: 'case-link', method: 'post'},
      h('div', {class: 'actions'}, field(t('case.link_contact'), id, t('case.link_help')),
        h('button', {type: 'submit', id: 'link-contact-submit'}, t('case.link'))), out);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = id.value.trim();
      if (!/^[0-9A-Fa-f-]{32,36}$/.test(v)) { out.textContent = t('case.link_bad_id'); id.focus(); return; }
      change('PUT', base + '/contacts/' + encodeURIComponent(v), undefined, t('case.linked'), out);
    });
    return h('section', {'aria-labelledby': 'links-title'}, h('h2', {id: 'links-title'}, t('case.contacts_title')),
      linked.length ? h('ul', {id: 'case-contacts'}, linked.map((e) => h('li', null,
        h('a', {href: '#/contacts/' + encodeURIComponent(e.contact_id)}, when(e.at, ctx.lang()) + ' — ' + vname('channel', e.channel)), ' ',
        h('button', {type: 'button', class: 'link', 'data-unlink': e.contact_id,
          'aria-label': t('case.unlink_named', {id: e.contact_id.slice(0, 8)}),
          onclick: () => change('DELETE', base + '/contacts/' + encodeURIComponent(e.contact_id), undefined, t('case.unlinked'))},
        t('case.unlink'))))) : h('p', {class: 'hint'}, t('common.none')),
      h('p', null, h('a', {href: '#/contacts?case=' + encodeURIComponent(c.id)}, t('case.contacts_list'))), form);
  }
}
