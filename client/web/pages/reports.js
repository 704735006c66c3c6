// #/reports (network officer, admin): the signed quarterly report of GET /v1/reports/quarterly
// for a helpline the caller reads (GET /v1/helplines: a network officer's whole network), with
// the daemon's verification of its signature and disclosure rules (POST /v1/reports/verify).
// A report file received from elsewhere can be checked the same way. Downloads: the JSON
// exactly as the daemon sent it, and the daemon's CSV.
import {api, apiText, qs} from '../lib/api.js';
import {h, put, field, download, select} from '../lib/dom.js';
import {t, tlabel} from '../lib/i18n.js';
import {vname} from '../lib/vocab.js';
import {grid, statTable, valuesOf, cellText} from '../lib/stattable.js';

// In memory only, for this session: the period and helpline last asked for.
let state = null;

export function reset() {
  state = null;
}

function initial() {
  const now = new Date();
  const q = Math.floor(now.getUTCMonth() / 3);
  return {year: q === 0 ? now.getUTCFullYear() - 1 : now.getUTCFullYear(), quarter: q === 0 ? 4 : q,
    helpline: ''};
}

const ORDER = ['contact_type', 'channel', 'category', 'subcategory', 'age_band_gender', 'region'];

function safeName(s) {
  return String(s).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

export async function render(root, params, ctx) {
  if (!state) state = initial();
  const session = ctx.session || {};
  let helplines = [];
  try {
    helplines = (await api('GET', '/v1/helplines')).items || [];
  } catch (e) {
    helplines = [{code: session.helpline, name: session.helpline}];
  }
  if (!state.helpline) state.helpline = session.helpline || (helplines[0] || {}).code || '';
  const helpline = select({id: 'report-helpline', name: 'helpline', value: state.helpline},
    helplines.map((x) => [x.code, x.name + ' (' + x.code + ')']));
  const year = h('input', {id: 'report-year', name: 'year', type: 'number', min: '2000', max: '9999',
    required: true, value: String(state.year), inputmode: 'numeric'});
  const quarter = select({id: 'report-quarter', name: 'quarter', value: String(state.quarter)},
    [1, 2, 3, 4].map((q) => [String(q), t('reports.quarter_n', {q})]));
  const status = h('p', {id: 'report-status', role: 'status', class: 'muted'});
  const out = h('div', {id: 'report-result'});

  const form = h('form', {id: 'report-form', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    state.helpline = helpline.value;
    state.year = Number(year.value);
    state.quarter = Number(quarter.value);
    if (!Number.isInteger(state.year) || state.year < 2000 || state.year > 9999) {
      put(status, h('span', {class: 'error', role: 'alert'}, t('reports.bad_year')));
      year.focus();
      return;
    }
    fetchReport(out, status, ctx);
  }},
  h('div', {class: 'row'},
    field(t('reports.helpline'), helpline),
    field(t('reports.year'), year),
    field(t('reports.quarter'), quarter)),
  h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'report-fetch', class: 'primary'}, t('reports.fetch'))));

  // A report file the officer holds (received by mail, downloaded earlier): the daemon checks it.
  const file = h('input', {id: 'report-file', name: 'report-file', type: 'file', accept: 'application/json,.json'});
  const fileResult = h('p', {id: 'report-file-result', role: 'status'});
  const check = h('form', {id: 'report-file-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    if (!file.files || !file.files[0]) return;
    let report;
    try {
      report = JSON.parse(await file.files[0].text());
    } catch (e) {
      fileResult.className = 'error';
      put(fileResult, t('reports.bad_reply'));
      return;
    }
    verify(report, fileResult, ctx);
  }},
  field(t('reports.file'), file, t('reports.file_hint')),
  h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'report-file-check'}, t('reports.verify'))));

  put(root,
    h('h1', null, t('reports.title')),
    h('p', {class: 'hint'}, t('reports.intro')),
    form, status, out,
    h('section', {'aria-labelledby': 'report-file-h'}, h('h2', {id: 'report-file-h'}, t('reports.check_file')), check,
      fileResult));
}

async function fetchReport(out, status, ctx) {
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
      verifyResult),
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
  verify(report, verifyResult, ctx);
}

// The daemon's verdict on REPORT: signed by the helpline it names (with the key the daemon
// derives for it), well formed and within the disclosure rules (docs/http-api.md).
async function verify(report, where, ctx) {
  where.className = '';
  put(where, t('reports.verifying'));
  try {
    const r = await api('POST', '/v1/reports/verify', report);
    where.className = r.valid ? 'notice' : 'error';
    put(where, r.valid ? t('reports.valid', {code: r.helpline, key_id: r.key_id})
      : t('reports.invalid', {code: r.helpline, reason: r.reason || ''}));
  } catch (e) {
    where.className = 'error';
    put(where, e.status === 404 ? t('reports.unknown_signer') : ctx.errorText(e));
  }
}
