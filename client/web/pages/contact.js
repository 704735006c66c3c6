// One contact: GET /v1/contacts/{id} (an audited read of its sensitive fields for its
// counsellor and admins; supervisors get it without them), edit with PATCH, confirm suggested
// categories, link it to a case.
import {h, put, when} from '../lib/dom.js';
import {vname} from '../lib/vocab.js';
import {contactForm, indexTaxonomy, catName} from '../lib/contactform.js';
import {linkOffer} from './log.js';

export async function render(root, params, ctx) {
  const {t} = ctx;
  const id = params.id;
  const path = '/v1/contacts/' + encodeURIComponent(id);
  const [c, tax] = await Promise.all([ctx.api('GET', path), ctx.taxonomy()]);
  const index = indexTaxonomy(tax);
  const canEdit = ctx.session.role === 'counsellor' || ctx.session.role === 'admin';
  const msg = h('p', {id: 'contact-message', role: 'status'});
  const view = h('div', {id: 'contact-view'});
  const child = c.child || {};
  const caller = c.caller || {};
  const row = (label, value) => (value === undefined || value === null || value === '' ? null
    : [h('dt', null, label), h('dd', null, value)]);
  const cats = c.categories || [];

  const draw = () => put(view,
    h('dl', {class: 'props'},
      row(t('contact.id'), h('code', null, c.id)),
      row(t('log.started_at'), when(c.started_at, ctx.lang())),
      row(t('log.ended_at'), c.ended_at ? when(c.ended_at, ctx.lang()) : null),
      row(t('log.channel'), vname('channel', c.channel)),
      row(t('log.contact_type'), vname('contact_type', c.contact_type)),
      row(t('log.urgency'), vname('urgency', c.urgency)),
      row(t('contacts.counsellor'), c.counsellor),
      row(t('cases.case'), c.case_id ? h('a', {href: '#/cases/' + encodeURIComponent(c.case_id), id: 'contact-case'},
        c.case_id.slice(0, 8)) : null),
      row(t('log.child_age'), child.age),
      row(t('log.child_gender'), vname('gender', child.gender)),
      row(t('log.child_region'), vname('region', child.region)),
      row(t('log.child_name'), child.name),
      row(t('log.caller_relationship'), vname('relationship', caller.relationship)),
      row(t('log.caller_phone'), caller.phone),
      row(t('log.caller_name'), caller.name),
      row(t('log.local'), (c.local_categories || []).join('; ')),
      row(t('log.actions'), (c.actions || []).map((a) => vname('action', a)).join('; ')),
      row(t('contact.created_at'), when(c.created_at, ctx.lang())),
      row(t('contact.updated_at'), c.updated_at !== c.created_at ? when(c.updated_at, ctx.lang()) : null)),
    h('h2', null, t('log.categories')),
    cats.length ? h('ul', {class: 'chips', id: 'contact-categories'}, cats.map((x) =>
      h('li', {class: 'chip' + (x.source === 'suggested' ? ' suggested' : '')},
        (index.has(x.code) ? catName(index, x.code) : x.label) + ' (' + t('log.source_' + x.source) + ')')))
      : h('p', {class: 'hint'}, t('common.none')),
    canEdit && cats.some((x) => x.source === 'suggested')
      ? h('button', {type: 'button', id: 'contact-confirm', onclick: () => patch({confirm_suggested: true})}, t('log.confirm_suggested')) : null,
    (c.terminology || []).length ? [h('h2', null, t('contact.terminology')), h('ul', null, c.terminology.map((x) =>
      h('li', null, x.term.replace(/_/g, ' '), ' — ', h('span', {class: 'verdict-' + x.verdict}, vname('verdict', x.verdict)),
        x.preferred ? ' — ' + t('log.hint_preferred') + ' ' + x.preferred : '')))] : null,
    c.summary !== undefined ? [h('h2', null, t('log.summary')), h('p', {class: 'pre', id: 'contact-summary'}, c.summary || t('common.not_recorded'))] : null,
    c.transcript ? [h('h2', null, t('log.transcript')), h('p', {class: 'pre'}, c.transcript)] : null,
    h('div', {class: 'actions'},
      canEdit ? h('button', {type: 'button', id: 'contact-edit', class: 'primary', onclick: edit}, t('common.edit')) : null,
      caller.phone ? h('a', {href: '#/contacts?caller_of=' + encodeURIComponent(c.id), id: 'contact-same-caller'}, t('contact.same_caller')) : null),
    canEdit && !c.case_id ? linkOffer(c.id, ctx) : null);

  async function patch(body) {
    try {
      await ctx.api('PATCH', path, body);
      await render(put(root), params, ctx);
      const m = root.querySelector('#contact-message');
      if (m) m.textContent = t('contact.updated');
    } catch (e) {
      msg.textContent = ctx.errorText(e);
    }
  }
  async function edit() {
    const cf = await contactForm(ctx, {mode: 'edit', id: 'contact-edit-form', record: c});
    const save = h('button', {type: 'submit', id: 'contact-save', class: 'primary'}, t('common.save'));
    cf.form.appendChild(h('div', {class: 'actions'}, save,
      h('button', {type: 'button', id: 'contact-cancel', onclick: () => { draw(); root.querySelector('#contact-edit').focus(); }}, t('common.cancel'))));
    cf.form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      cf.clearError();
      const bad = cf.check();
      if (bad) { cf.showError(bad); return; }
      const body = cf.body();
      if (!Object.keys(body).length) { draw(); msg.textContent = t('contact.unchanged'); return; }
      save.disabled = true;
      try {
        await ctx.api('PATCH', path, body);
        await render(put(root), params, ctx);
        const m = root.querySelector('#contact-message');
        if (m) m.textContent = t('contact.updated');
      } catch (e) {
        save.disabled = false;
        cf.showError(e);
      }
    });
    put(view, cf.form);
    cf.focus();
  }

  root.append(h('h1', null, t('contact.title', {when: when(c.started_at, ctx.lang())})), msg, view);
  draw();
}
