// #/reports (network officer, admin): the signed quarterly report of GET /v1/reports/quarterly
// for a helpline of the caller's network (helpline=CODE; empty: the caller's own). The API has
// no list of the network's helplines, so the code is typed (codes already fetched are offered).
// The daemon returns the signed document only, with no verification result and no public key:
// the signature is checked here with WebCrypto's Ed25519 against a public key the officer
// pastes (`helplined signing-key show`, or lines of a keys file), as `helpline report verify`
// does. Downloads: the JSON exactly as the daemon sent it, and the daemon's CSV.
import {apiText, qs} from '../lib/api.js';
import {h, put, field, download, select} from '../lib/dom.js';
import {t, tlabel} from '../lib/i18n.js';
import {vname} from '../lib/vocab.js';
import {grid, statTable, valuesOf, cellText} from '../lib/stattable.js';
import {pickKey, verifyReport} from '../lib/reportsig.js';

// In memory only, for this session: what the officer typed and the codes fetched.
let state = null;

export function reset() {
  state = null;
}

function initial() {
  const now = new Date();
  const q = Math.floor(now.getUTCMonth() / 3);
  return {year: q === 0 ? now.getUTCFullYear() - 1 : now.getUTCFullYear(), quarter: q === 0 ? 4 : q,
    helpline: '', keys: '', codes: []};
}

const ORDER = ['contact_type', 'channel', 'category', 'subcategory', 'age_band_gender', 'region'];

function safeName(s) {
  return String(s).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

export async function render(root, params, ctx) {
  if (!state) state = initial();
  const session = ctx.session || {};
  const helpline = h('input', {id: 'report-helpline', name: 'helpline', value: state.helpline,
    autocapitalize: 'none', spellcheck: 'false', list: 'report-helplines', maxlength: '64'});
  const codes = h('datalist', {id: 'report-helplines'},
    [session.helpline].concat(state.codes).filter((c, i, a) => c && a.indexOf(c) === i).map((c) => h('option', {value: c})));
  const year = h('input', {id: 'report-year', name: 'year', type: 'number', min: '2000', max: '9999',
    required: true, value: String(state.year), inputmode: 'numeric'});
  const quarter = select({id: 'report-quarter', name: 'quarter', value: String(state.quarter)},
    [1, 2, 3, 4].map((q) => [String(q), t('reports.quarter_n', {q})]));
  const keys = h('textarea', {id: 'report-key', name: 'key', rows: '2', spellcheck: 'false',
    autocapitalize: 'none', value: state.keys});
  const status = h('p', {id: 'report-status', role: 'status', class: 'muted'});
  const out = h('div', {id: 'report-result'});

  const form = h('form', {id: 'report-form', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    state.helpline = helpline.value.trim();
    state.year = Number(year.value);
    state.quarter = Number(quarter.value);
    state.keys = keys.value;
    if (!Number.isInteger(state.year) || state.year < 2000 || state.year > 9999) {
      put(status, h('span', {class: 'error', role: 'alert'}, t('reports.bad_year')));
      year.focus();
      return;
    }
    fetchReport(out, status, codes, ctx);
  }},
  h('div', {class: 'row'},
    field(t('reports.helpline'), helpline, t('reports.helpline_hint', {code: session.helpline || ''})),
    field(t('reports.year'), year),
    field(t('reports.quarter'), quarter)),
  codes,
  field(t('reports.key'), keys, t('reports.key_hint')),
  h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'report-fetch', class: 'primary'}, t('reports.fetch'))));

  put(root,
    h('h1', null, t('reports.title')),
    h('p', {class: 'hint'}, t('reports.intro')),
    form, status, out);
}

async function fetchReport(out, status, codes, ctx) {
  const params = {year: state.year, quarter: state.quarter, helpline: state.helpline};
  put(out);
  put(status, t('common.loading'));
  let text, report;
  try {
    text = await apiText('/v1/reports/quarterly' + qs(params));
    report = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof SyntaxError ? t('reports.bad_reply')
      : e.status === 404 && e.field === 'helpline' ? t('reports.no_helpline', {code: params.helpline})
        : ctx.errorText(e);
    put(status, h('span', {class: 'error', role: 'alert'}, msg));
    return;
  }
  const hl = report.helpline || {};
  if (hl.code && !state.codes.includes(hl.code)) {
    state.codes.push(hl.code);
    codes.appendChild(h('option', {value: hl.code}));
  }
  // Category code -> [its entry, its parent's entry or null].
  const byCode = new Map();
  try {
    const tax = await ctx.taxonomy();
    const walk = (list, parent) => {
      for (const c of list || []) { byCode.set(c.code, [c, parent]); walk(c.children, c); }
    };
    walk(tax.categories, null);
  } catch (e) {
    byCode.clear();
  }
  const label = (dim, value) => {
    if (dim === 'category' || dim === 'subcategory') {
      if (!byCode.has(value)) return value;
      const [c, parent] = byCode.get(value);
      // "Unspecified/Other" exists under every category: a subcategory names its parent too.
      return parent && dim === 'subcategory' ? tlabel(parent) + ' › ' + tlabel(c) : tlabel(c);
    }
    if (dim === 'age_band') return value === 'unknown' ? t('dashboard.age_unknown') : value;
    return vname(dim, value);
  };
  const dimLabel = (dim) => {
    const key = 'dashboard.dim.' + dim;
    const s = t(key);
    return s === key ? dim : s;
  };
  const period = report.period || {};
  const base = 'report-' + safeName(hl.code || 'helpline') + '-' + period.year + '-Q' + period.quarter;
  const k = report.k;

  const verifyResult = h('p', {id: 'report-verify-result', role: 'status'});
  const verifyButton = h('button', {type: 'button', id: 'report-verify', onclick: () => {
    state.keys = document.getElementById('report-key').value;
    verify(report, verifyResult);
  }}, t('reports.verify'));
  const csvButton = h('button', {type: 'button', id: 'report-download-csv', onclick: async () => {
    csvButton.disabled = true;
    try {
      const csv = await apiText('/v1/reports/quarterly' + qs({year: period.year, quarter: period.quarter,
        helpline: hl.code, k, format: 'csv'}));
      download(base + '.csv', csv, 'text/csv;charset=utf-8');
    } catch (e) {
      put(status, h('span', {class: 'error', role: 'alert'}, ctx.errorText(e)));
    } finally {
      csvButton.disabled = false;
    }
  }}, t('reports.download_csv'));

  const props = [
    [t('reports.helpline_name'), (hl.name || '') + (hl.code ? ' (' + hl.code + ')' : '')],
    [t('reports.country'), hl.country || ''],
    [t('reports.network'), hl.network || t('common.none')],
    [t('reports.period'), t('reports.period_value', {year: period.year, q: period.quarter, from: period.from, to: period.to})],
    [t('reports.taxonomy_version'), report.taxonomy_version || ''],
    [t('reports.k'), t('dashboard.k_in_force', {k})],
    [t('reports.generated_at'), report.generated_at || ''],
    [t('reports.key_id'), report.signature ? report.signature.key_id : ''],
  ];
  put(out,
    h('h2', null, t('reports.report_of', {name: hl.name || hl.code || '', year: period.year, q: period.quarter})),
    h('dl', {class: 'props'}, props.map(([dt, dd]) => [h('dt', null, dt), h('dd', null, dd)])),
    h('section', {'aria-labelledby': 'report-verify-h'},
      h('h3', {id: 'report-verify-h'}, t('reports.verification')),
      h('p', {class: 'hint'}, t('reports.no_daemon_verification')),
      verifyResult,
      h('div', {class: 'actions'}, verifyButton)),
    h('div', {class: 'actions'},
      h('button', {type: 'button', id: 'report-download-json', class: 'primary',
        onclick: () => download(base + '.json', text, 'application/json')}, t('reports.download_json')),
      csvButton));

  const names = Object.keys(report.tables || {}).sort((a, b) => {
    const x = ORDER.indexOf(a), y = ORDER.indexOf(b);
    return (x < 0 ? 99 : x) - (y < 0 ? 99 : y) || (a < b ? -1 : a > b ? 1 : 0);
  });
  for (const name of names) {
    const table = report.tables[name];
    if (!table || !Array.isArray(table.dimensions) || !Array.isArray(table.cells) || table.dimensions.length > 2) continue;
    const key = 'reports.table.' + name;
    const title = t(key) === key ? name : t(key);
    const g = grid(table.dimensions, valuesOf(table), table.cells);
    const total = table.total === null || table.total === undefined
      ? t('reports.total_withheld') : t('reports.total', {count: cellText({count: table.total}, k)});
    const hid = 'report-h-' + safeName(name);
    const body = [statTable(g, {caption: title, labelledby: hid, k, label, dimLabel,
      filename: base + '-' + safeName(name)}), h('p', {class: 'muted'}, total)];
    // A long table (subcategories: every code of the taxonomy) starts folded.
    out.appendChild(h('section', {class: 'stat-block', id: 'report-table-' + safeName(name)},
      g.values[0].length > 20
        ? h('details', null, h('summary', null, h('h3', {id: hid, class: 'inline'}, title)), body)
        : [h('h3', {id: hid}, title), body]));
  }
  put(status, t('reports.fetched'));
  if (pickKey(state.keys, hl.code, report.signature && report.signature.key_id)) verify(report, verifyResult);
  else put(verifyResult, t('reports.not_verified'));
}

async function verify(report, where) {
  const sig = report.signature || {};
  const code = (report.helpline || {}).code;
  const key = pickKey(state.keys, code, sig.key_id);
  if (!key) {
    where.className = 'warn';
    put(where, t('reports.need_key', {code: code || ''}));
    return;
  }
  put(where, t('reports.verifying'));
  const r = await verifyReport(report, key);
  where.className = r === 'valid' ? 'notice' : r === 'invalid' ? 'error' : 'warn';
  put(where, r === 'valid' ? t('reports.valid', {key_id: sig.key_id || ''})
    : r === 'invalid' ? t('reports.invalid') : t('reports.unsupported'));
}
