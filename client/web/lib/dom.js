// DOM helpers. Every value reaches the page as text (textContent / text nodes):
// nothing in the application uses innerHTML, and no attribute takes script or style (CSP).

// h('button', {type: 'button', class: 'x', onclick: fn}, 'text', child, [more]).
// attrs: `class`, `for`, `data-*`, `aria-*` and other names are set with setAttribute;
// `on<event>` takes a function (never a string); `value`, `checked`, `selected`,
// `disabled`, `hidden`, `required`, `multiple` are set as properties.
// Children: strings and numbers become text nodes, null/undefined/false are skipped,
// arrays are flattened.
const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'required',
  'multiple', 'indeterminate', 'readOnly']);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) {
        if (typeof v !== 'function') throw new TypeError('h: ' + k + ' must be a function');
        el.addEventListener(k.slice(2), v);
      } else if (k === 'style' || k === 'innerHTML' || k === 'outerHTML' || k === 'srcdoc') {
        throw new TypeError('h: attribute ' + k + ' is not allowed');
      } else if (PROPS.has(k)) {
        el[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Removes every child of el; returns el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Replaces el's children with the given ones.
export function put(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// Saves text as a file through a Blob and an object URL (nothing goes through a URL's query).
export function download(filename, text, type) {
  const blob = new Blob([text], {type: type || 'text/plain;charset=utf-8'});
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: filename, hidden: true});
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Loads a same-origin classic script once (e.g. /vendor/chart.js/chart.min.js for the dashboard).
const scripts = new Map();
export function loadScript(src) {
  if (!scripts.has(src)) {
    scripts.set(src, new Promise((resolve, reject) => {
      const s = h('script', {src});
      s.addEventListener('load', () => resolve());
      s.addEventListener('error', () => { scripts.delete(src); reject(new Error('cannot load ' + src)); });
      document.head.appendChild(s);
    }));
  }
  return scripts.get(src);
}

// A labelled form field: <div class="field"><label for=id>text</label>control</div>.
// The control must have the given id.
export function field(labelText, control, hint) {
  const id = control.id || (control.id = uid('f'));
  const kids = [h('label', {for: id}, labelText), control];
  if (hint) {
    const hid = id + '-hint';
    control.setAttribute('aria-describedby', hid);
    kids.push(h('small', {id: hid, class: 'hint'}, hint));
  }
  return h('div', {class: 'field'}, kids);
}

let seq = 0;
export function uid(prefix) {
  seq += 1;
  return (prefix || 'id') + '-' + seq;
}

// <select> from [[value, text], ...]; `empty` adds a first option with value '' and that text.
export function select(attrs, options, empty) {
  const opts = [];
  if (empty !== undefined && empty !== null) opts.push(h('option', {value: ''}, empty));
  for (const [v, text] of options) opts.push(h('option', {value: v}, text));
  const el = h('select', attrs, opts);
  if (attrs && attrs.value !== undefined) el.value = attrs.value;
  return el;
}

// Formats an RFC 3339 instant for people, in the browser's time zone.
export function when(iso, lang) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(lang || undefined, {dateStyle: 'medium', timeStyle: 'short'});
}

export function day(iso, lang) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleDateString(lang || undefined, {dateStyle: 'medium'});
}
