// #/dashboard (supervisor, admin): GET /v1/stats for a chosen period. Four tables, each one
// request and each protected by the daemon on its own: contacts per week (line), by category
// (bars), age band x gender (table), channels (bars). Suppressed cells are shown as "<k" and
// never as a number; charts leave a gap labelled "<k". Nothing is added up here: the only total
// shown is the daemon's total_contacts. Weeks are ISO weeks named by their Monday (the `week`
// dimension); the first and last may be partial, counting only the days of the period.
import {api, qs} from '../lib/api.js';
import {h, put, field, loadScript} from '../lib/dom.js';
import {t, lang, tlabel} from '../lib/i18n.js';
import {VOCAB, vname} from '../lib/vocab.js';
import {grid, statTable} from '../lib/stattable.js';

export const CHART_JS = '/vendor/chart.js/chart.min.js';
const AGE_BANDS = ['0-6', '7-9', '10-12', '13-15', '16-17', '18-25', 'unknown'];

let period = null;   // {from, to}: the last period asked for, in memory only
let charts = [];     // Chart.js instances of the page shown, destroyed before the next render
let loads = 0;       // the latest load(): an older one that ends later shows nothing

export function reset() {
  period = null;
  destroyCharts();
}

function destroyCharts() {
  for (const c of charts) c.destroy();
  charts = [];
}

// ---- dates (UTC, as the API counts) ----

function iso(y, m, d) {
  return new Date(Date.UTC(y, m, d)).toISOString().slice(0, 10);
}

export function thisMonth(now) {
  const y = now.getUTCFullYear(), m = now.getUTCMonth();
  return {from: iso(y, m, 1), to: iso(y, m + 1, 0)};
}

export function lastQuarter(now) {
  const q = Math.floor(now.getUTCMonth() / 3);   // this quarter, 0..3
  const y = q === 0 ? now.getUTCFullYear() - 1 : now.getUTCFullYear();
  const first = q === 0 ? 9 : (q - 1) * 3;
  return {from: iso(y, first, 1), to: iso(y, first + 3, 0)};
}

export function thisYear(now) {
  const y = now.getUTCFullYear();
  return {from: iso(y, 0, 1), to: iso(y, 11, 31)};
}

// "YYYY-MM-DD" of the Monday of every ISO week FROM..TO touches (the daemon's vocabulary for `week`).
function weeksOf(from, to) {
  const out = [];
  const day = 86400000;
  const first = Date.parse(from + 'T00:00:00Z'), last = Date.parse(to + 'T00:00:00Z');
  let w = first - ((new Date(first).getUTCDay() + 6) % 7) * day;
  while (w <= last && out.length < 6000) {
    out.push(new Date(w).toISOString().slice(0, 10));
    w += 7 * day;
  }
  return out;
}

function weekName(monday) {
  const d = new Date(monday + 'T00:00:00Z');
  return t('dashboard.week_of', {date: new Intl.DateTimeFormat(lang(), {day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC'}).format(d)});
}

// ---- labels ----

function labeller(categories) {
  const byCode = new Map(categories.map((c) => [c.code, c]));
  return {
    dimLabel: (dim) => t('dashboard.dim.' + dim),
    label(dim, value) {
      if (dim === 'week') return weekName(value);
      if (dim === 'category' || dim === 'subcategory') return byCode.has(value) ? tlabel(byCode.get(value)) : value;
      if (dim === 'age_band') return value === 'unknown' ? t('dashboard.age_unknown') : value;
      return vname(dim, value);
    },
  };
}

function flatten(categories, out) {
  for (const c of categories || []) {
    out.push(c);
    flatten(c.children, out);
  }
  return out;
}

// ---- charts ----

// Draws "<k" where a suppressed value left a gap (options.plugins.hlSuppressed: {marks, text}).
const suppressedMarks = {
  id: 'hlSuppressed',
  afterDatasetsDraw(chart, args, opts) {
    if (!opts || !opts.marks) return;
    const horizontal = chart.options.indexAxis === 'y';
    const index = horizontal ? chart.scales.y : chart.scales.x;
    const value = horizontal ? chart.scales.x : chart.scales.y;
    const c = chart.ctx;
    c.save();
    c.fillStyle = '#5b6470';
    c.font = 'italic 12px system-ui, sans-serif';
    opts.marks.forEach((m, i) => {
      if (!m) return;
      const p = index.getPixelForValue(i);
      const base = value.getPixelForValue(0);
      if (horizontal) {
        c.textAlign = 'left'; c.textBaseline = 'middle'; c.fillText(opts.text, base + 4, p);
      } else {
        c.textAlign = 'center'; c.textBaseline = 'bottom'; c.fillText(opts.text, p, base - 4);
      }
    });
    c.restore();
  },
};

// A chart of a 1-D grid, or nothing when Chart.js is not there (the table has the numbers).
function chart(kind, g, lab, k, title) {
  if (typeof window.Chart !== 'function') return null;
  const dim = g.dims[0];
  const cells = g.values[0].map((v) => g.get(v));
  const canvas = h('canvas', {role: 'img', 'aria-label': t('dashboard.chart_alt', {title})});
  const box = h('div', {class: 'chart chart-' + kind}, canvas);
  const horizontal = kind === 'hbar';
  const color = '#0b5cad';
  const config = {
    type: kind === 'line' ? 'line' : 'bar',
    data: {
      labels: g.values[0].map((v) => lab.label(dim, v)),
      datasets: [{
        label: title,
        data: cells.map((c) => (c.suppressed ? null : c.count)),
        borderColor: color,
        backgroundColor: kind === 'line' ? color : 'rgba(11, 92, 173, 0.75)',
        spanGaps: false,
        pointRadius: 3,
      }],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      indexAxis: horizontal ? 'y' : 'x',
      scales: {
        [horizontal ? 'x' : 'y']: {beginAtZero: true, ticks: {precision: 0}},
        // A line over few weeks (one, say) keeps its points off the axes.
        ...(kind === 'line' ? {x: {offset: true}} : {}),
        // Long category names are cut on narrow screens (the table has them whole).
        ...(horizontal ? {y: {ticks: {callback(v) {
          const l = String(this.getLabelForValue(v));
          const max = this.chart.width < 480 ? 14 : 40;
          return l.length > max ? l.slice(0, max - 1) + '…' : l;
        }}}} : {}),
      },
      plugins: {
        legend: {display: false},
        tooltip: {callbacks: {label: (item) => new Intl.NumberFormat(lang()).format(item.parsed[horizontal ? 'x' : 'y'])}},
        hlSuppressed: {marks: cells.map((c) => c.suppressed), text: '<' + k},
      },
    },
    plugins: [suppressedMarks],
  };
  // Drawn once the box is in the page (Chart.js sizes the canvas from its container).
  queueMicrotask(() => {
    if (canvas.isConnected) charts.push(new window.Chart(canvas, config));
  });
  return box;
}

// ---- the page ----

const TABLES = [
  {id: 'week', by: ['week'], chart: 'line'},
  {id: 'category', by: ['category'], chart: 'hbar'},
  {id: 'age_gender', by: ['age_band', 'gender'], chart: null},
  {id: 'channel', by: ['channel'], chart: 'bar'},
];

export async function render(root, params, ctx) {
  destroyCharts();
  if (!period) period = thisMonth(new Date());
  const from = h('input', {type: 'date', id: 'dash-from', name: 'from', required: true, value: period.from});
  const to = h('input', {type: 'date', id: 'dash-to', name: 'to', required: true, value: period.to});
  const status = h('p', {id: 'dash-status', role: 'status', class: 'muted'});
  const results = h('div', {id: 'dash-results'});

  const quick = (id, text, fn) => h('button', {
    type: 'button', id, onclick: () => {
      const p = fn(new Date());
      from.value = p.from;
      to.value = p.to;
      form.requestSubmit();
    },
  }, text);

  const form = h('form', {id: 'dash-period', class: 'period', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    if (!from.value || !to.value || from.value > to.value) {
      put(status, h('span', {class: 'error', role: 'alert'}, t('dashboard.bad_period')));
      return;
    }
    period = {from: from.value, to: to.value};
    load(results, status, ctx);
  }},
  h('fieldset', null,
    h('legend', null, t('dashboard.period')),
    h('div', {class: 'row'}, field(t('common.from'), from), field(t('common.to'), to)),
    h('div', {class: 'actions'},
      h('button', {type: 'submit', id: 'dash-show', class: 'primary'}, t('dashboard.show')),
      quick('dash-this-month', t('dashboard.this_month'), thisMonth),
      quick('dash-last-quarter', t('dashboard.last_quarter'), lastQuarter),
      quick('dash-this-year', t('dashboard.this_year'), thisYear))));

  put(root,
    h('h1', null, t('dashboard.title')),
    form,
    status,
    results);
  await load(results, status, ctx);
}

async function load(results, status, ctx) {
  const {from, to} = period;
  const seq = ++loads;
  destroyCharts();
  put(results);
  put(status, t('common.loading'));
  let categories = [];
  let tops = [];
  try {
    const tax = await ctx.taxonomy();
    tops = tax.categories || [];
    categories = flatten(tops, []);
  } catch (e) {
    // Category codes are shown as they are without the taxonomy's labels.
  }
  const replies = [];
  try {
    // Chart.js is a classic script from Debian's package, served by helplined under /vendor/;
    // without it the tables still show every number.
    await loadScript(CHART_JS).catch(() => {});
    // One at a time: the daemon runs at most half its threads' worth of statistics at once.
    for (const tb of TABLES) {
      replies.push(await api('GET', '/v1/stats' + qs({from, to, by: tb.by.join(',')})));
    }
  } catch (e) {
    if (seq === loads) put(status, h('span', {class: 'error', role: 'alert'}, ctx.errorText(e)));
    return;
  }
  if (seq !== loads) return;
  const lab = labeller(categories);
  const k = replies[0].k;
  const total = replies[1].total_contacts || {count: null, suppressed: true};
  const vocab = {
    week: weeksOf(from, to),
    category: tops.length ? tops.map((c) => c.code) : null,
    age_band: AGE_BANDS,
    gender: VOCAB.gender,
    channel: VOCAB.channel,
  };
  put(status, t('dashboard.period_shown', {from, to}));
  results.appendChild(h('div', {class: 'notice', id: 'dash-k'},
    h('p', null, t('dashboard.k_in_force', {k})),
    h('p', null, t('dashboard.total', {
      count: total.suppressed ? '<' + k : new Intl.NumberFormat(lang()).format(total.count),
    }))));
  TABLES.forEach((tb, i) => {
    const reply = replies[i];
    // The values of each dimension: the full vocabulary, plus any value the daemon sent that
    // this page does not know (never dropped).
    const values = tb.by.map((d) => {
      const known = vocab[d] ? vocab[d].slice() : [];
      for (const c of reply.cells) if (!known.includes(c[d])) known.push(c[d]);
      return known;
    });
    const g = grid(tb.by, values, reply.cells);
    const title = t('dashboard.table.' + tb.id);
    const section = h('section', {class: 'stat-block', id: 'dash-' + tb.id, 'aria-labelledby': 'dash-h-' + tb.id},
      h('h2', {id: 'dash-h-' + tb.id}, title));
    if (tb.chart) {
      const c = chart(tb.chart, g, lab, reply.k, title);
      if (c) section.appendChild(c);
    }
    section.appendChild(statTable(g, {
      caption: title, labelledby: 'dash-h-' + tb.id, k: reply.k, label: lab.label, dimLabel: lab.dimLabel,
      filename: 'contacts-' + tb.id + '-' + from + '-' + to,
    }));
    results.appendChild(section);
  });
}
