// Cases: GET /v1/cases with its filters and cursor pages, an "overdue follow-ups" view (open
// and in-progress cases whose follow-up is due today or earlier), and a new case (POST /v1/cases).
// List items carry metadata only: a case's label is sealed and read on its own page.
import {h, put, clear, field, select, when, day} from '../lib/dom.js';
import {qs} from '../lib/api.js';
import {voptions, vname} from '../lib/vocab.js';

let filters = null;
let overdue = false;

export function reset() {
  filters = null;
  overdue = false;
}

const today = () => new Date().toISOString().slice(0, 10);

export async function render(root, params, ctx) {
  const {t} = ctx;
  const role = ctx.session.role;
  const assignable = role === 'counsellor' || role === 'admin';
  if (!filters) filters = assignable ? {assigned_to: 'me'} : {};
  if (params.query.get('view') === 'overdue') overdue = true;

  const assigned = h('input', {id: 'filter-assigned_to', autocomplete: 'off', list: 'assigned-hints'});
  const ctl = {
    status: select({id: 'filter-status'}, voptions('status'), t('common.any')),
    priority: select({id: 'filter-priority'}, voptions('priority'), t('common.any')),
    assigned_to: assigned,
    follow_up_before: h('input', {id: 'filter-follow_up_before', type: 'date'}),
  };
  for (const [k, el] of Object.entries(ctl)) el.value = filters[k] || '';
  const hintsList = h('datalist', {id: 'assigned-hints'}, h('option', {value: 'me'}, t('cases.assigned_me')),
    h('option', {value: 'none'}, t('cases.assigned_none')));
  const form = h('form', {id: 'cases-filters', method: 'post'},
    h('div', {class: 'row'}, field(t('cases.status'), ctl.status), field(t('cases.priority'), ctl.priority),
      field(t('cases.assigned_to'), assigned, t('cases.assigned_help')), hintsList,
      field(t('cases.follow_up_before'), ctl.follow_up_before)),
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'cases-apply'}, t('common.apply')),
      h('button', {type: 'button', id: 'cases-overdue', 'aria-pressed': String(overdue)}, t('cases.overdue')),
      h('button', {type: 'button', id: 'cases-reset'}, t('common.reset'))));
  const heading = h('h2', {id: 'cases-list-title'});
  const msg = h('p', {id: 'cases-message', role: 'status'});
  const body = h('tbody');
  const table = h('table', {id: 'cases-table', 'aria-labelledby': 'cases-list-title'},
    h('thead', null, h('tr', null, [t('cases.case'), t('cases.status'), t('cases.priority'), t('cases.follow_up'),
      t('cases.assigned_to'), t('cases.contacts'), t('cases.created_at')].map((x) => h('th', {scope: 'col'}, x)))), body);
  const more = h('button', {type: 'button', id: 'cases-more', hidden: true}, t('common.more'));
  let cursor = null;

  function row(c) {
    const late = c.follow_up_at && c.status !== 'closed' && c.follow_up_at.slice(0, 10) <= today();
    return h('tr', null,
      h('td', null, h('a', {href: '#/cases/' + encodeURIComponent(c.id)}, t('cases.case_ref', {id: c.id.slice(0, 8)}))),
      h('td', null, vname('status', c.status)),
      h('td', null, vname('priority', c.priority)),
      h('td', null, c.follow_up_at ? day(c.follow_up_at, ctx.lang()) : '', late ? [' ', h('span', {class: 'badge overdue'}, t('cases.overdue_badge'))] : null),
      h('td', null, c.assigned_to || t('cases.assigned_none')),
      h('td', {class: 'num'}, String(c.contacts_count ?? '')),
      h('td', null, when(c.created_at, ctx.lang())));
  }
  async function load(next) {
    more.disabled = true;
    try {
      if (overdue) {
        // Due today or earlier and not closed: the two open statuses, oldest follow-up first.
        heading.textContent = t('cases.overdue_title');
        const base = {follow_up_before: today(), limit: 200};
        if (assignable) base.assigned_to = 'me';
        const lists = await Promise.all(['open', 'in_progress'].map((s) =>
          ctx.api('GET', '/v1/cases' + qs(Object.assign({status: s}, base)))));
        const items = lists.flatMap((l) => l.items || []).sort((a, b) => (a.follow_up_at < b.follow_up_at ? -1 : 1));
        clear(body);
        items.forEach((c) => body.appendChild(row(c)));
        cursor = null;
      } else {
        heading.textContent = t('cases.list_title');
        const q = Object.assign({}, filters, {limit: 50});
        if (next) q.cursor = cursor;
        const r = await ctx.api('GET', '/v1/cases' + qs(q));
        if (!next) clear(body);
        (r.items || []).forEach((c) => body.appendChild(row(c)));
        cursor = r.next_cursor;
      }
      more.hidden = !cursor;
      msg.textContent = body.children.length ? t('cases.count', {n: body.children.length}) : t('common.no_items');
    } catch (e) {
      msg.textContent = ctx.errorText(e);
    } finally {
      more.disabled = false;
    }
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    filters = {};
    for (const [k, el] of Object.entries(ctl)) if (el.value.trim()) filters[k] = el.value.trim();
    overdue = false;
    form.querySelector('#cases-overdue').setAttribute('aria-pressed', 'false');
    load(false);
  });
  form.querySelector('#cases-overdue').addEventListener('click', (ev) => {
    overdue = !overdue;
    ev.currentTarget.setAttribute('aria-pressed', String(overdue));
    load(false);
  });
  form.querySelector('#cases-reset').addEventListener('click', () => {
    filters = null;
    overdue = false;
    ctx.navigate('/cases');
  });
  more.addEventListener('click', () => load(true));

  root.append(h('h1', null, t('nav.cases')), form, heading, msg, h('div', {class: 'table-wrap'}, table),
    h('div', {class: 'actions'}, more), newCase(ctx));
  await load(false);
}

// A new case: label (sealed), summary (sealed), priority, follow-up, assignee.
function newCase(ctx) {
  const {t} = ctx;
  const role = ctx.session.role;
  const label = h('input', {id: 'case-new-label', maxlength: '200', autocomplete: 'off', required: true});
  const summary = h('textarea', {id: 'case-new-summary', rows: '3'});
  const priority = select({id: 'case-new-priority'}, voptions('priority'));
  priority.value = 'normal';
  const follow = h('input', {id: 'case-new-follow_up_at', type: 'datetime-local'});
  const assignee = h('input', {id: 'case-new-assigned_to', autocomplete: 'off'});
  const msg = h('p', {id: 'case-new-message', role: 'status'});
  const form = h('form', {id: 'case-new', method: 'post'},
    field(t('cases.label'), label, t('cases.label_help')), field(t('cases.summary'), summary),
    h('div', {class: 'row'}, field(t('cases.priority'), priority), field(t('cases.follow_up'), follow),
      role === 'supervisor' || role === 'admin' ? field(t('cases.assigned_to'), assignee, t('cases.assign_help')) : null),
    h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary', id: 'case-new-submit'}, t('cases.create'))), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!label.value.trim()) { msg.textContent = t('log.new_case_label_needed'); label.focus(); return; }
    const body = {label: label.value.trim(), priority: priority.value};
    if (summary.value.trim()) body.summary = summary.value;
    if (follow.value) body.follow_up_at = new Date(follow.value).toISOString();
    if (assignee.value.trim()) body.assigned_to = assignee.value.trim();
    try {
      const c = await ctx.api('POST', '/v1/cases', body);
      ctx.navigate('/cases/' + c.id);
    } catch (e) {
      msg.textContent = ctx.errorText(e);
    }
  });
  return h('details', {id: 'case-new-box'}, h('summary', null, t('cases.new')), form);
}
