// The contact form, shared by the log page (POST /v1/contacts) and the contact page's edit
// (PATCH /v1/contacts/{id}): every api.md field, a searchable category tree, local labels
// checked against the helpline's mapping, and Luxembourg Guidelines hints while the summary
// is typed (POST /v1/classify, debounced; nothing stored).
import {h, clear, put, field, select} from './dom.js';
import {t, lang, tlabel} from './i18n.js';
import {voptions, vname, VOCAB} from './vocab.js';

const MAX_CATEGORIES = 8;
const MAX_LOCAL = 8;
const CLASSIFY_DELAY_MS = 400;

// Lower case, accents dropped: "Viol" finds "violence", "nino" finds "niño".
export function fold(s) {
  return String(s || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
}

// <input type="datetime-local"> value (local time) <-> RFC 3339 in UTC.
export function localInput(iso) {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes());
}
function isoFromLocal(v) {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

// A random source.id (crypto.getRandomValues also works outside secure contexts).
export function newSourceId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// Flat index of the taxonomy: code -> {code, label item, parent, search text}.
export function indexTaxonomy(tax) {
  const byCode = new Map();
  const aliases = new Map();
  for (const term of tax.terms || []) {
    if (!term.category) continue;
    const all = [term.label].concat(...Object.values(term.aliases || {}));
    aliases.set(term.category, (aliases.get(term.category) || []).concat(all));
  }
  const walk = (list, parent) => {
    for (const c of list || []) {
      if (c.deprecated) continue;
      byCode.set(c.code, {cat: c, parent, extra: fold([c.code, c.description].concat(aliases.get(c.code) || []).join(' '))});
      walk(c.children, c.code);
    }
  };
  walk(tax.categories, null);
  return byCode;
}

// The category name in the chosen language, with its parent's for a subcategory.
export function catName(index, code) {
  const e = index.get(code);
  if (!e) return code;
  const own = tlabel(e.cat);
  return e.parent && index.get(e.parent) ? tlabel(index.get(e.parent).cat) + ' › ' + own : own;
}

// The searchable category tree: a filter input and nested lists of checkboxes.
// Keyboard: in the filter, Down or Enter goes to the first shown category; in the list,
// Up/Down move, Right opens a group (then enters it), Left goes to the parent (then closes),
// Home/End, Space ticks.
function categoryPicker(tax, index, chosen, onChange) {
  const selected = new Set(chosen);
  const filter = h('input', {id: 'category-search', type: 'search', autocomplete: 'off', spellcheck: 'false',
    'aria-controls': 'categories'});
  const count = h('p', {id: 'category-count', class: 'hint', 'aria-live': 'polite'});
  const chips = h('ul', {class: 'chips', id: 'category-chosen', 'aria-label': t('log.categories_chosen')});
  const boxes = new Map();
  const groups = [];

  const box = (c) => {
    const cb = h('input', {type: 'checkbox', name: 'category', value: c.code, checked: selected.has(c.code)});
    cb.addEventListener('change', () => toggle(c.code, cb.checked));
    boxes.set(c.code, cb);
    return cb;
  };
  const top = (tax.categories || []).filter((c) => !c.deprecated).map((c) => {
    const kids = (c.children || []).filter((k) => !k.deprecated);
    const sub = h('ul', {id: 'cat-sub-' + c.code, hidden: true},
      kids.map((k) => h('li', {'data-code': k.code}, h('label', null, box(k), tlabel(k)))));
    const tog = kids.length ? h('button', {type: 'button', class: 'link toggle', tabindex: '-1',
      'aria-expanded': 'false', 'aria-controls': sub.id, 'aria-label': t('log.category_expand', {name: tlabel(c)})}, '▸') : null;
    const li = h('li', {class: 'top', 'data-code': c.code}, tog, h('label', null, box(c), tlabel(c)), sub);
    const g = {code: c.code, li, sub, tog, kids};
    if (tog) tog.addEventListener('click', () => expand(g, sub.hidden));
    groups.push(g);
    return li;
  });
  const tree = h('div', {id: 'categories', class: 'tree', role: 'group', 'aria-label': t('log.categories')}, h('ul', null, top));

  function expand(g, open) {
    if (!g.tog) return;
    g.sub.hidden = !open;
    g.tog.setAttribute('aria-expanded', String(open));
    g.tog.textContent = open ? '▾' : '▸';
  }
  function toggle(code, on) {
    if (on && !selected.has(code) && selected.size >= MAX_CATEGORIES) {
      boxes.get(code).checked = false;
      count.textContent = t('log.categories_max', {n: MAX_CATEGORIES});
      return;
    }
    if (on) selected.add(code); else selected.delete(code);
    if (boxes.has(code)) boxes.get(code).checked = on;
    drawChips();
    onChange();
  }
  function drawChips() {
    clear(chips);
    for (const code of selected) {
      const name = catName(index, code);
      chips.appendChild(h('li', {class: 'chip'}, name,
        h('button', {type: 'button', 'aria-label': t('common.remove_item', {name}),
          onclick: () => { toggle(code, false); filter.focus(); }}, '×')));
    }
    count.textContent = t('log.categories_count', {n: selected.size, max: MAX_CATEGORIES});
  }
  function applyFilter() {
    const q = fold(filter.value.trim());
    for (const g of groups) {
      const e = index.get(g.code);
      const selfHit = !q || fold(tlabel(e.cat)).includes(q) || e.extra.includes(q);
      let anyKid = false;
      for (const k of g.kids) {
        const ke = index.get(k.code);
        const hit = !q || selfHit || fold(tlabel(ke.cat)).includes(q) || ke.extra.includes(q);
        g.sub.querySelector('[data-code="' + CSS.escape(k.code) + '"]').hidden = !hit;
        if (hit && q && !selfHit) anyKid = true;
      }
      g.li.hidden = !(selfHit || anyKid);
      expand(g, q ? anyKid : g.kids.some((k) => selected.has(k.code)));
    }
  }
  // In document order (a group's box comes before its subcategories').
  const visible = () => Array.from(tree.querySelectorAll('input[type=checkbox]')).filter((x) => x.offsetParent !== null);
  filter.addEventListener('input', applyFilter);
  filter.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'Enter') {
      ev.preventDefault();
      const v = visible();
      if (v.length) v[0].focus();
    }
  });
  tree.addEventListener('keydown', (ev) => {
    const cb = ev.target;
    if (!(cb instanceof HTMLInputElement) || cb.type !== 'checkbox') return;
    const v = visible();
    const i = v.indexOf(cb);
    const g = groups.find((x) => x.code === cb.value);
    const parent = groups.find((x) => x.kids.some((k) => k.code === cb.value));
    let to = null;
    if (ev.key === 'ArrowDown') to = v[i + 1];
    else if (ev.key === 'ArrowUp') to = i > 0 ? v[i - 1] : filter;
    else if (ev.key === 'Home') to = v[0];
    else if (ev.key === 'End') to = v[v.length - 1];
    else if (ev.key === 'ArrowRight' && g && g.tog) {
      if (g.sub.hidden) expand(g, true); else to = visible()[i + 1];
    } else if (ev.key === 'ArrowLeft') {
      if (parent) to = boxes.get(parent.code);
      else if (g) expand(g, false);
    } else return;
    ev.preventDefault();
    if (to) to.focus();
  });
  drawChips();
  applyFilter();
  return {
    el: h('div', {class: 'field'},
      h('label', {for: 'category-search'}, t('log.category_search')), filter,
      h('small', {class: 'hint', id: 'category-help'}, t('log.category_help')), count, chips, tree),
    get: () => Array.from(selected),
    has: (code) => selected.has(code),
    add: (code) => { if (!selected.has(code)) toggle(code, true); },
    focus: () => filter.focus(),
  };
}

// Local labels of the helpline's mapping file: each one is checked with /v1/classify as it is
// added, and shows the canonical category it maps to.
function localPicker(ctx, index, initial, onChange) {
  const labels = new Map(initial.map((l) => [l, null]));
  const input = h('input', {id: 'local-label', autocomplete: 'off', 'aria-describedby': 'local-help local-error'});
  const err = h('p', {id: 'local-error', class: 'error', role: 'alert', hidden: true});
  const list = h('ul', {class: 'chips', id: 'local-chosen', 'aria-label': t('log.local_chosen')});
  const add = h('button', {type: 'button', id: 'local-add'}, t('log.local_add'));
  const draw = () => {
    clear(list);
    for (const [l, code] of labels) {
      list.appendChild(h('li', {class: 'chip'}, code ? l + ' → ' + catName(index, code) : l,
        h('button', {type: 'button', 'aria-label': t('common.remove_item', {name: l}),
          onclick: () => { labels.delete(l); draw(); onChange(); input.focus(); }}, '×')));
    }
  };
  async function doAdd() {
    const l = input.value.trim();
    err.hidden = true;
    if (!l || labels.has(l)) { input.value = ''; return; }
    if (labels.size >= MAX_LOCAL) { err.textContent = t('log.local_max', {n: MAX_LOCAL}); err.hidden = false; return; }
    add.disabled = true;
    try {
      const r = await ctx.api('POST', '/v1/classify', {local_categories: [l]});
      const m = (r.categories || []).find((c) => c.source === 'mapped');
      labels.set(l, m ? m.code : null);
      input.value = '';
      draw();
      onChange();
    } catch (e) {
      err.textContent = e.status === 400 || e.status === 404 ? t('log.local_unknown') : ctx.errorText(e);
      err.hidden = false;
    } finally {
      add.disabled = false;
      input.focus();
    }
  }
  add.addEventListener('click', doAdd);
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); doAdd(); } });
  draw();
  // Labels restored from a record or a draft: look up what they map to (quietly).
  if (labels.size) {
    ctx.api('POST', '/v1/classify', {local_categories: Array.from(labels.keys())}).then((r) => {
      const mapped = (r.categories || []).filter((c) => c.source === 'mapped');
      if (mapped.length === 1 && labels.size === 1) labels.set(labels.keys().next().value, mapped[0].code);
      draw();
    }).catch(() => {});
  }
  return {
    el: h('div', {class: 'field'}, h('label', {for: 'local-label'}, t('log.local')),
      h('div', {class: 'actions'}, input, add),
      h('small', {class: 'hint', id: 'local-help'}, t('log.local_help')), err, list),
    get: () => Array.from(labels.keys()),
  };
}

// The Luxembourg Guidelines panel beside the summary.
function hintsPanel(ctx, tax, index, cats) {
  const box = h('aside', {id: 'hints', 'aria-live': 'polite', 'aria-label': t('log.hints')});
  const terms = new Map((tax.terms || []).map((x) => [x.id, x]));
  let seq = 0;
  let timer = null;
  let last = null;
  const idle = () => put(box, h('h3', null, t('log.hints')), h('p', {class: 'hint'}, t('log.hints_idle')));

  function draw(r) {
    last = r;
    const found = r.terminology || [];
    const sugg = (r.categories || []).filter((c) => c.source === 'suggested');
    const kids = [h('h3', null, t('log.hints'))];
    if (!found.length && !sugg.length) kids.push(h('p', {class: 'hint'}, t('log.hints_none')));
    if (found.length) {
      kids.push(h('ul', {class: 'terms'}, found.map((f) => {
        const term = terms.get(f.term);
        const pref = term && term.preferred_term ? terms.get(term.preferred_term) : null;
        const local = lang() !== 'en' && pref && pref.aliases && pref.aliases[lang()] ? pref.aliases[lang()][0] : null;
        return h('li', {class: 'finding', 'data-term': f.term},
          h('q', null, f.found), ' ',
          h('span', {class: 'verdict-' + f.verdict}, vname('verdict', f.verdict)),
          // In French or Spanish the preferred term's own wording comes first where terms.json has it.
          f.preferred ? h('div', {class: 'preferred'}, t('log.hint_preferred'), ' ', h('strong', null, local || f.preferred),
            local ? ' (' + f.preferred + ')' : null) : null,
          term && term.note && lang() === 'en' ? h('div', {class: 'hint'}, term.note) : null);
      })));
    }
    if (sugg.length) {
      kids.push(h('h4', null, t('log.suggested')));
      kids.push(h('ul', {class: 'suggested'}, sugg.map((c) => {
        const name = index.has(c.code) ? catName(index, c.code) : c.label;
        return h('li', null, name, ' ', cats.has(c.code)
          ? h('span', {class: 'hint'}, t('log.suggested_added'))
          : h('button', {type: 'button', class: 'suggest-add', 'data-code': c.code,
            'aria-label': t('log.suggested_add_named', {name}),
            onclick: () => { cats.add(c.code); draw(last); }}, t('log.suggested_add')));
      })));
    }
    put(box, kids);
  }
  async function run(text) {
    const my = ++seq;
    if (!text.trim()) { idle(); return; }
    try {
      const r = await ctx.api('POST', '/v1/classify', {text});
      if (my === seq) draw(r);
    } catch (e) {
      if (my === seq) put(box, h('h3', null, t('log.hints')), h('p', {class: 'hint'}, t('log.hints_failed')));
    }
  }
  idle();
  return {
    el: box,
    typed(text) { clearTimeout(timer); timer = setTimeout(() => run(text), CLASSIFY_DELAY_MS); },
    now(text) { clearTimeout(timer); return run(text); },
    redraw() { if (last) draw(last); },
  };
}

// Which control shows an error for a JSON Pointer of the API.
const POINTERS = {
  '/channel': 'channel', '/contact_type': 'contact-type', '/started_at': 'started-at', '/ended_at': 'ended-at',
  '/counsellor': 'counsellor', '/child/age': 'child-age', '/child/gender': 'child-gender',
  '/child/region': 'child-region', '/child/name': 'child-name', '/caller/relationship': 'caller-relationship',
  '/caller/phone': 'caller-phone', '/caller/name': 'caller-name', '/categories': 'category-search',
  '/local_categories': 'local-label', '/actions': 'actions', '/urgency': 'urgency', '/summary': 'summary',
  '/transcript': 'transcript',
};

// Builds the form. opts: {mode: 'create'|'edit', id (the form's id), record (edit: the contact
// as GET returns it), draft (create: a saved state), admin (offer the counsellor field),
// onChange(state)}. Returns {form, body(), state(), showError(err), clearError(), hints}.
export async function contactForm(ctx, opts) {
  const tax = await ctx.taxonomy();
  const index = indexTaxonomy(tax);
  const edit = opts.mode === 'edit';
  const rec = opts.record || {};
  const d = opts.draft || {};
  const val = (k, fallback) => (d[k] !== undefined ? d[k] : fallback);
  const child = rec.child || {};
  const caller = rec.caller || {};
  const given = (rec.categories || []).filter((c) => c.source === 'given').map((c) => c.code);

  const changed = () => { if (opts.onChange) opts.onChange(state()); };
  const sel = (id, kind, value, required, empty) =>
    select({id, name: id, required}, voptions(kind), empty === undefined ? t('common.not_recorded') : empty);
  const ctl = {
    channel: sel('channel', 'channel', null, true, t('log.choose')),
    'contact-type': sel('contact-type', 'contact_type', null, true, t('log.choose')),
    'started-at': h('input', {id: 'started-at', name: 'started-at', type: 'datetime-local', required: true}),
    'ended-at': h('input', {id: 'ended-at', name: 'ended-at', type: 'datetime-local'}),
    urgency: sel('urgency', 'urgency'),
    'child-age': h('input', {id: 'child-age', name: 'child-age', type: 'number', min: '0', max: '25', step: '1', inputmode: 'numeric'}),
    'child-gender': sel('child-gender', 'gender'),
    'child-region': sel('child-region', 'region'),
    'child-name': h('input', {id: 'child-name', name: 'child-name', autocomplete: 'off', maxlength: '200'}),
    'caller-relationship': sel('caller-relationship', 'relationship'),
    'caller-phone': h('input', {id: 'caller-phone', name: 'caller-phone', type: 'tel', autocomplete: 'off', maxlength: '32'}),
    'caller-name': h('input', {id: 'caller-name', name: 'caller-name', autocomplete: 'off', maxlength: '200'}),
    summary: h('textarea', {id: 'summary', name: 'summary', rows: '8', spellcheck: 'true'}),
    transcript: h('textarea', {id: 'transcript', name: 'transcript', rows: '4'}),
    counsellor: h('input', {id: 'counsellor', name: 'counsellor', autocomplete: 'off', maxlength: '64'}),
  };
  // Initial values: the record (edit), else the draft, else defaults.
  const init = {
    channel: rec.channel, 'contact-type': rec.contact_type, urgency: rec.urgency,
    'started-at': localInput(rec.started_at), 'ended-at': rec.ended_at ? localInput(rec.ended_at) : '',
    'child-age': child.age ?? '', 'child-gender': child.gender, 'child-region': child.region, 'child-name': child.name,
    'caller-relationship': caller.relationship, 'caller-phone': caller.phone, 'caller-name': caller.name,
    summary: rec.summary, transcript: rec.transcript, counsellor: '',
  };
  for (const [k, el] of Object.entries(ctl)) el.value = val(k, init[k] ?? '') ?? '';
  if (edit) for (const k of ['channel', 'started-at', 'ended-at', 'transcript', 'counsellor']) ctl[k].disabled = true;

  const cats = categoryPicker(tax, index, val('categories', given), changed);
  const locals = localPicker(ctx, index, val('local_categories', rec.local_categories || []), changed);
  const chosenActions = new Set(val('actions', rec.actions || []));
  const actionBoxes = VOCAB.action.map((a) => h('label', null,
    h('input', {type: 'checkbox', name: 'action', value: a, checked: chosenActions.has(a)}), vname('action', a)));
  const hints = hintsPanel(ctx, tax, index, cats);
  ctl.summary.addEventListener('input', () => hints.typed(ctl.summary.value));
  if (ctl.summary.value) hints.typed(ctl.summary.value);

  const nowBtn = h('button', {type: 'button', id: 'ended-now', onclick: () => { ctl['ended-at'].value = localInput(); changed(); }}, t('log.ended_now'));
  const err = h('p', {id: 'form-error', class: 'error', role: 'alert', hidden: true});
  const form = h('form', {id: opts.id, method: 'post', novalidate: true, 'aria-describedby': 'form-help'},
    h('p', {class: 'hint', id: 'form-help'}, t('log.form_help')),
    h('fieldset', null, h('legend', null, t('log.contact')),
      h('div', {class: 'row'}, field(t('log.channel'), ctl.channel), field(t('log.contact_type'), ctl['contact-type']),
        field(t('log.urgency'), ctl.urgency)),
      h('div', {class: 'row'}, field(t('log.started_at'), ctl['started-at']),
        h('div', {class: 'field'}, h('label', {for: 'ended-at'}, t('log.ended_at')),
          h('div', {class: 'actions'}, ctl['ended-at'], edit ? null : nowBtn)),
        opts.admin && !edit ? field(t('log.counsellor'), ctl.counsellor, t('log.counsellor_help')) : null)),
    h('fieldset', null, h('legend', null, t('log.child')),
      h('div', {class: 'row'}, field(t('log.child_age'), ctl['child-age']), field(t('log.child_gender'), ctl['child-gender']),
        field(t('log.child_region'), ctl['child-region']), field(t('log.child_name'), ctl['child-name']))),
    h('fieldset', null, h('legend', null, t('log.caller')),
      h('div', {class: 'row'}, field(t('log.caller_relationship'), ctl['caller-relationship']),
        field(t('log.caller_phone'), ctl['caller-phone'], t('log.caller_phone_help')), field(t('log.caller_name'), ctl['caller-name']))),
    h('fieldset', null, h('legend', null, t('log.categories')), cats.el, locals.el),
    h('fieldset', {id: 'actions'}, h('legend', null, t('log.actions')), h('div', {class: 'checks'}, actionBoxes)),
    h('div', {class: 'summary-pane'},
      h('div', null, field(t('log.summary'), ctl.summary, t('log.summary_help')),
        edit ? null : field(t('log.transcript'), ctl.transcript)),
      hints.el),
    err);
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
  // Enter in a one-line field does not send a half-filled contact; Ctrl+Enter (or the
  // Save button) does.
  form.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter') return;
    if (ev.ctrlKey || ev.metaKey) { ev.preventDefault(); form.requestSubmit(); return; }
    const tg = ev.target;
    if (tg instanceof HTMLInputElement && !['checkbox', 'radio', 'submit', 'button'].includes(tg.type)) ev.preventDefault();
  });

  const str = (k) => ctl[k].value.trim();
  function objectOf(pairs) {
    const o = {};
    for (const [k, v] of pairs) if (v !== '' && v !== null && v !== undefined) o[k] = v;
    return Object.keys(o).length ? o : null;
  }
  function state() {
    const s = {};
    for (const k of Object.keys(ctl)) s[k] = ctl[k].value;
    s.categories = cats.get();
    s.local_categories = locals.get();
    s.actions = actionBoxes.map((l) => l.firstChild).filter((b) => b.checked).map((b) => b.value);
    return s;
  }
  // The API body: for a POST the fields that are set; for a PATCH the editable fields that
  // changed (null clears one).
  function body() {
    const age = str('child-age');
    const c = {
      child: objectOf([['age', age === '' ? '' : Number(age)], ['gender', str('child-gender')],
        ['region', str('child-region')], ['name', str('child-name')]]),
      caller: objectOf([['relationship', str('caller-relationship')], ['phone', str('caller-phone')], ['name', str('caller-name')]]),
      categories: cats.get(),
      local_categories: locals.get(),
      actions: state().actions,
      urgency: str('urgency') || null,
      summary: ctl.summary.value.trim() ? ctl.summary.value : null,
      contact_type: str('contact-type'),
    };
    if (edit) {
      const before = {child: objectOf(Object.entries(child)), caller: objectOf(Object.entries(caller)), categories: given,
        local_categories: rec.local_categories || [], actions: rec.actions || [], urgency: rec.urgency || null,
        summary: rec.summary || null, contact_type: rec.contact_type};
      const out = {};
      const canon = (v) => JSON.stringify(v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v).sort().map((x) => [x, v[x]]) : v);
      for (const k of Object.keys(c)) if (canon(c[k]) !== canon(before[k])) out[k] = c[k];
      return out;
    }
    const b = {source: {system: 'web', id: opts.sourceId}, channel: str('channel'), contact_type: c.contact_type,
      started_at: isoFromLocal(ctl['started-at'].value)};
    const ended = isoFromLocal(ctl['ended-at'].value);
    if (ended) b.ended_at = ended;
    if (opts.admin && str('counsellor')) b.counsellor = str('counsellor');
    for (const k of ['child', 'caller', 'urgency', 'summary']) if (c[k] !== null) b[k] = c[k];
    for (const k of ['categories', 'local_categories', 'actions']) if (c[k].length) b[k] = c[k];
    if (ctl.transcript.value.trim()) b.transcript = ctl.transcript.value;
    return b;
  }
  function clearError() {
    err.hidden = true;
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }
  // Client-side checks of what the browser knows; the server checks everything again.
  function check() {
    const need = edit ? ['contact-type'] : ['channel', 'contact-type', 'started-at'];
    for (const k of need) if (!ctl[k].value) return {field: '/' + k.replace('-', '_'), message: t('log.required')};
    const age = str('child-age');
    if (age !== '' && !(/^\d+$/.test(age) && Number(age) <= 25)) return {field: '/child/age', message: t('log.age_range')};
    return null;
  }
  function showError(e) {
    clearError();
    const ptr = e.field || '';
    const key = Object.keys(POINTERS).find((p) => ptr === p || ptr.startsWith(p + '/'));
    const target = key ? form.querySelector('#' + POINTERS[key]) : null;
    const text = e instanceof Error && e.name === 'ApiError' ? ctx.errorText(e) : e.message;
    err.textContent = text;
    err.hidden = false;
    if (target) {
      target.setAttribute('aria-invalid', 'true');
      const focusable = target.tagName === 'FIELDSET' ? target.querySelector('input') : target;
      focusable.focus();
    } else {
      err.setAttribute('tabindex', '-1');
      err.focus();
    }
  }
  return {form, body, state, check, showError, clearError, hints, focus: () => ctl.channel.focus(),
    summaryText: () => ctl.summary.value};
}
