// "My contacts" (a supervisor's or admin's: the helpline's): GET /v1/contacts with the list
// filters and cursor pages. The filters stay in this module's memory, not in the URL; only
// `case` and `caller_of` (ids) may come from the hash (#/contacts?caller_of=ID).
import {h, put, clear, field, select, when} from '../lib/dom.js';
import {qs} from '../lib/api.js';
import {voptions, vname} from '../lib/vocab.js';
import {indexTaxonomy, catName} from '../lib/contactform.js';

const FILTERS = ['from', 'to', 'category', 'channel', 'contact_type', 'urgency', 'case', 'caller_of', 'counsellor'];
let filters = {};

export function reset() {
  filters = {};
}

export async function render(root, params, ctx) {
  const {t} = ctx;
  for (const k of ['case', 'caller_of']) {
    const v = params.query.get(k);
    if (v && /^(none|[0-9A-Fa-f-]{1,64})$/.test(v)) filters = {[k]: v};
  }
  const tax = await ctx.taxonomy();
  const index = indexTaxonomy(tax);
  const counsellor = ctx.session.role === 'counsellor';
  const ctl = {
    from: h('input', {id: 'filter-from', type: 'date'}),
    to: h('input', {id: 'filter-to', type: 'date'}),
    category: select({id: 'filter-category'}, Array.from(index.keys()).map((c) => [c, catName(index, c)]), t('common.any')),
    channel: select({id: 'filter-channel'}, voptions('channel'), t('common.any')),
    contact_type: select({id: 'filter-contact_type'}, voptions('contact_type'), t('common.any')),
    urgency: select({id: 'filter-urgency'}, voptions('urgency'), t('common.any')),
    case: select({id: 'filter-case'}, [['none', t('contacts.case_none')]], t('common.any')),
    counsellor: h('input', {id: 'filter-counsellor', autocomplete: 'off', placeholder: 'me'}),
  };
  const fcase = filters.case;
  if (fcase && fcase !== 'none') ctl.case.appendChild(h('option', {value: fcase}, t('contacts.case_this', {id: fcase.slice(0, 8)})));
  for (const [k, el] of Object.entries(ctl)) el.value = filters[k] || '';

  const callerNote = h('p', {id: 'filter-caller', class: 'warn', hidden: !filters.caller_of});
  if (filters.caller_of) {
    put(callerNote, t('contacts.caller_of', {id: filters.caller_of.slice(0, 8)}), ' ',
      h('button', {type: 'button', class: 'link', id: 'filter-caller-clear',
        onclick: () => { delete filters.caller_of; ctx.navigate('/contacts'); }}, t('common.remove')));
  }
  const form = h('form', {id: 'contacts-filters', method: 'post', class: 'filters'},
    h('div', {class: 'row'}, field(t('common.from'), ctl.from), field(t('common.to'), ctl.to),
      field(t('contacts.category'), ctl.category), field(t('log.channel'), ctl.channel)),
    h('div', {class: 'row'}, field(t('log.contact_type'), ctl.contact_type), field(t('log.urgency'), ctl.urgency),
      field(t('contacts.case'), ctl.case), counsellor ? null : field(t('contacts.counsellor'), ctl.counsellor, t('contacts.counsellor_help'))),
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'contacts-apply'}, t('common.apply')),
      h('button', {type: 'button', id: 'contacts-reset', onclick: () => { filters = {}; ctx.navigate('/contacts'); }}, t('common.reset'))));
  const msg = h('p', {id: 'contacts-message', role: 'status'});
  const body = h('tbody');
  const table = h('table', {id: 'contacts-table'},
    h('caption', {class: 'hint'}, t('contacts.caption')),
    h('thead', null, h('tr', null, [t('contacts.started_at'), t('log.channel'), t('log.contact_type'), t('log.categories'),
      t('log.urgency'), counsellor ? null : t('contacts.counsellor'), t('contacts.case')].filter(Boolean).map((x) => h('th', {scope: 'col'}, x)))),
    body);
  const more = h('button', {type: 'button', id: 'contacts-more', hidden: true}, t('common.more'));
  let cursor = null;

  async function load(next) {
    more.disabled = true;
    const q = Object.assign({}, filters, {limit: 50});
    if (next) q.cursor = cursor;
    try {
      const r = await ctx.api('GET', '/v1/contacts' + qs(q));
      if (!next) clear(body);
      for (const c of r.items || []) body.appendChild(row(c));
      cursor = r.next_cursor;
      more.hidden = !cursor;
      msg.textContent = body.children.length ? t('contacts.count', {n: body.children.length}) : t('common.no_items');
    } catch (e) {
      msg.textContent = ctx.errorText(e);
    } finally {
      more.disabled = false;
    }
  }
  function row(c) {
    return h('tr', null,
      h('td', null, h('a', {href: '#/contacts/' + encodeURIComponent(c.id)}, when(c.started_at, ctx.lang()))),
      h('td', null, vname('channel', c.channel)),
      h('td', null, vname('contact_type', c.contact_type)),
      h('td', null, (c.categories || []).map((code) => catName(index, code)).join('; ')),
      h('td', null, vname('urgency', c.urgency)),
      counsellor ? null : h('td', null, c.counsellor || ''),
      h('td', null, c.case_id ? h('a', {href: '#/cases/' + encodeURIComponent(c.case_id)}, t('contacts.case_link')) : ''));
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const keep = filters.caller_of;
    filters = {};
    for (const k of FILTERS) if (ctl[k] && ctl[k].value.trim()) filters[k] = ctl[k].value.trim();
    if (keep) filters.caller_of = keep;
    load(false);
  });
  more.addEventListener('click', () => load(true));
  root.append(h('h1', null, t(counsellor ? 'nav.my_contacts' : 'nav.contacts')), form, callerNote, msg,
    h('div', {class: 'table-wrap'}, table), h('div', {class: 'actions'}, more));
  await load(false);
}
