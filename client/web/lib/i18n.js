// Interface strings: one flat catalogue per language in /i18n/{code}.json (key -> string with
// {name} placeholders). English is loaded as the fallback for a key a catalogue lacks.
// The language code alone may be kept in localStorage (it is not sensitive).

export const LANGS = [['en', 'English'], ['fr', 'Français'], ['es', 'Español']];
const cats = {};
let current = 'en';
const listeners = [];

async function load(code) {
  if (!cats[code]) {
    const res = await fetch('/i18n/' + code + '.json', {credentials: 'same-origin'});
    if (!res.ok) throw new Error('cannot load the ' + code + ' catalogue');
    cats[code] = await res.json();
  }
  return cats[code];
}

function pick(code) {
  const known = LANGS.map(l => l[0]);
  if (code && known.includes(code)) return code;
  const base = (code || '').toLowerCase().split('-')[0];
  return known.includes(base) ? base : 'en';
}

// The language to start with: a remembered choice, else the browser's, else English.
export function initialLang() {
  let saved = null;
  try { saved = localStorage.getItem('lang'); } catch (e) { /* storage disabled */ }
  if (saved) return pick(saved);
  for (const l of navigator.languages || [navigator.language]) {
    const p = pick(l);
    if (p !== 'en' || (l || '').toLowerCase().startsWith('en')) return p;
  }
  return 'en';
}

export async function setLang(code) {
  const c = pick(code);
  await load('en');
  await load(c);
  current = c;
  document.documentElement.lang = c;
  try { localStorage.setItem('lang', c); } catch (e) { /* storage disabled */ }
  for (const fn of listeners) fn(c);
  return c;
}

export function lang() {
  return current;
}

// fn(code) runs after each language change.
export function onLang(fn) {
  listeners.push(fn);
}

// t('log.saved', {id: 'x'}): the string in the current language, else English, else the key.
export function t(key, vars) {
  const cat = cats[current] || {};
  let s = Object.prototype.hasOwnProperty.call(cat, key) ? cat[key]
    : (cats.en && Object.prototype.hasOwnProperty.call(cats.en, key) ? cats.en[key] : key);
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, name) =>
      Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m);
  }
  return s;
}

// Translates the static markup of index.html: data-i18n="key" sets the text,
// data-i18n-aria="key" sets aria-label, data-i18n-placeholder="key" the placeholder.
export function translateStatic(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
}

// A taxonomy label in the current language where the taxonomy has one: an item may carry
// `labels: {fr: ...}` (or `label_fr`); otherwise its `label`.
export function tlabel(item) {
  if (!item) return '';
  if (item.labels && typeof item.labels === 'object' && item.labels[current]) return item.labels[current];
  if (item['label_' + current]) return item['label_' + current];
  return item.label || item.code || item.id || '';
}
