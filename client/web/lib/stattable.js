// Tables of counts that passed the daemon's disclosure control (GET /v1/stats cells, the
// quarterly report's tables), shown as they came: a suppressed cell is the text "<k" in a
// <td class="suppressed"> and never a number; no count is added up or derived here (line
// totals are not printed: the daemon decides which totals may be published). The CSV is
// made from the same displayed cells.
import {h, download} from './dom.js';
import {t, lang} from './i18n.js';

// A grid over one or two dimensions: rows = values of dims[0], cols = values of dims[1]
// (one "count" column for a 1-D table). cells: [{<dim>: value, ..., count, suppressed?}];
// a combination with no cell is 0 (api.md: absent cells are zero).
export function grid(dims, values, cells) {
  const map = new Map();
  for (const c of cells || []) {
    const key = dims.map((d) => String(c[d])).join('\u0000');
    map.set(key, c.suppressed === true || c.count === null || c.count === undefined
      ? {suppressed: true} : {count: Number(c.count)});
  }
  return {
    dims,
    values,
    get(...coords) {
      return map.get(coords.map(String).join('\u0000')) || {count: 0};
    },
  };
}

// The text of a cell as shown: a number in the page's language, or "<k".
export function cellText(cell, k) {
  if (cell.suppressed) return '<' + k;
  return new Intl.NumberFormat(lang()).format(cell.count);
}

// <div class="table-wrap"> with <table class="stats">, and a "Download CSV" button.
// opts: {caption, labelledby (id of the heading naming the table), k, label(dim, value) -> text,
// dimLabel(dim) -> text, filename}
// Returns the element; the CSV holds the header and cells as displayed ("<k" for a
// suppressed cell, counts as plain integers).
export function statTable(g, opts) {
  const [rowDim, colDim] = g.dims;
  const cols = colDim ? g.values[1] : [null];
  const rows = g.values[0];
  const headText = [opts.dimLabel(rowDim) + (colDim ? ' / ' + opts.dimLabel(colDim) : '')]
    .concat(colDim ? cols.map((v) => opts.label(colDim, v)) : [t('dashboard.count')]);
  const csvRows = [headText];
  const thead = h('thead', null, h('tr', null, headText.map((text, i) =>
    h('th', {scope: 'col', class: i ? 'num' : null}, text))));
  const body = rows.map((rv) => {
    const label = opts.label(rowDim, rv);
    const csvRow = [label];
    const tds = cols.map((cv) => {
      const cell = colDim ? g.get(rv, cv) : g.get(rv);
      csvRow.push(cell.suppressed ? '<' + opts.k : String(cell.count));
      return cell.suppressed
        ? h('td', {class: 'suppressed', title: t('dashboard.suppressed_title', {k: opts.k})}, '<' + opts.k)
        : h('td', {class: 'num'}, cellText(cell, opts.k));
    });
    csvRows.push(csvRow);
    return h('tr', null, h('th', {scope: 'row'}, label), tds);
  });
  const table = h('table', {class: 'stats', 'aria-labelledby': opts.labelledby || null},
    opts.labelledby ? null : h('caption', null, opts.caption), thead, h('tbody', null, body));
  const button = h('button', {
    type: 'button',
    class: 'csv',
    'aria-label': t('dashboard.download_csv_of', {table: opts.caption || opts.filename}),
    onclick: () => download(opts.filename + '.csv', csv(csvRows), 'text/csv;charset=utf-8'),
  }, t('common.download_csv'));
  return h('div', {class: 'stat-table'}, h('div', {class: 'table-wrap'}, table), h('div', {class: 'actions'}, button));
}

// RFC 4180 text (CRLF). A field a spreadsheet would read as a formula gets a leading
// apostrophe; "<5" does not start with one of those characters and stays as it is.
export function csv(rows) {
  return rows.map((r) => r.map((f) => {
    let s = String(f);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }).join(',')).join('\r\n') + '\r\n';
}

// The values of each dimension of a report table, in order of first appearance
// (docs/report-format.md: tables are dense and row-major).
export function valuesOf(table) {
  return table.dimensions.map((d) => {
    const seen = [];
    for (const c of table.cells) if (!seen.includes(c[d])) seen.push(c[d]);
    return seen;
  });
}
