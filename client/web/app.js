// The application shell: session boot, login and logout, the language picker, the nav per
// role and the router on location.hash. Pages are modules in pages/NAME.js exporting
// render(root, params, ctx), loaded when first visited; they may also export reset(),
// called at logout so that nothing a page kept in memory outlives the session.
import {api, setCsrf, onUnauth, ApiError} from './lib/api.js';
import {h, clear, put} from './lib/dom.js';
import {t, setLang, lang, initialLang, translateStatic, tlabel} from './lib/i18n.js';

const $ = (id) => document.getElementById(id);

// Routes: hash path pattern -> page module. `nav` names the nav entry that owns the route.
const ROUTES = [
  {re: /^\/log$/, page: 'log', nav: 'log'},
  {re: /^\/contacts$/, page: 'contacts', nav: 'contacts'},
  {re: /^\/contacts\/([0-9A-Fa-f-]{1,64})$/, page: 'contact', nav: 'contacts', keys: ['id']},
  {re: /^\/cases$/, page: 'cases', nav: 'cases'},
  {re: /^\/cases\/([0-9A-Fa-f-]{1,64})$/, page: 'case', nav: 'cases', keys: ['id']},
  {re: /^\/dashboard$/, page: 'dashboard', nav: 'dashboard'},
  {re: /^\/reports$/, page: 'reports', nav: 'reports'},
  {re: /^\/users$/, page: 'users', nav: 'users'},
];

// Nav entries per role, in order; the first is the role's start page.
const NAV = {
  counsellor: ['log', 'contacts', 'cases'],
  supervisor: ['dashboard', 'contacts', 'cases'],
  network: ['reports'],
  admin: ['log', 'contacts', 'cases', 'dashboard', 'reports', 'users'],
};

let session = null;          // {user, role, helpline} while logged in
let taxonomy = null;         // the promise of GET /v1/taxonomy, once asked for
const loaded = new Map();    // page name -> module
let renderSeq = 0;
let expiredUser = null;      // whose session ended by itself (their pages' state is kept)

function navKey(entry) {
  // A counsellor's list is their own contacts only.
  if (entry === 'contacts' && session && session.role === 'counsellor') return 'nav.my_contacts';
  return 'nav.' + entry;
}

function navigate(path) {
  const target = '#' + path;
  if (location.hash === target) route();
  else location.hash = target;
}

const ctx = {
  get session() { return session; },
  api,
  t,
  navigate,
  lang,
  tlabel,
  // GET /v1/taxonomy once per session (shared by the pages).
  taxonomy() {
    if (!taxonomy) {
      taxonomy = api('GET', '/v1/taxonomy').catch((e) => { taxonomy = null; throw e; });
    }
    return taxonomy;
  },
};

function parseHash() {
  let raw = location.hash.replace(/^#/, '');
  let query = '';
  const q = raw.indexOf('?');
  if (q >= 0) { query = raw.slice(q + 1); raw = raw.slice(0, q); }
  return {path: raw, query: new URLSearchParams(query)};
}

function buildNav() {
  const nav = $('nav');
  clear(nav);
  if (!session) return;
  const entries = NAV[session.role] || [];
  const {path} = parseHash();
  const current = ROUTES.find((r) => r.re.test(path));
  nav.appendChild(h('ul', null, entries.map((e) => h('li', null,
    h('a', {href: '#/' + e, 'aria-current': current && current.nav === e ? 'page' : null}, t(navKey(e)))))));
}

// Drops what the pages keep in memory (drafts, filters).
function resetPages() {
  for (const mod of loaded.values()) if (typeof mod.reset === 'function') mod.reset();
}

// The login form. After an expiry (expired true) the pages keep their state (an unsaved
// contact) for the same user signing in again; any other way, it is dropped.
function showLogin(message, expired) {
  if (expired && session) expiredUser = session.user + '@' + session.helpline;
  else { expiredUser = null; resetPages(); }
  session = null;
  setCsrf(null);
  taxonomy = null;
  renderSeq += 1;
  clear($('view'));
  clear($('nav'));
  $('who').hidden = true;
  clear($('who'));
  $('logout').hidden = true;
  const form = $('login');
  form.reset();
  $('login-box').hidden = false;
  const err = $('login-error');
  if (message) { err.textContent = message; err.hidden = false; } else { err.textContent = ''; err.hidden = true; }
  $('login-user').focus();
}

function setHelplineField(n) {
  const multi = typeof n === 'number' && n > 1;
  $('login-helpline-field').hidden = !multi;
  $('login-helpline').disabled = !multi;
  $('login-helpline').required = multi;
}

function loggedIn(s) {
  if (expiredUser !== null && expiredUser !== s.user + '@' + s.helpline) resetPages();
  expiredUser = null;
  session = {user: s.user, role: s.role, helpline: s.helpline};
  if (s.csrf) setCsrf(s.csrf);
  $('login-box').hidden = true;
  $('login-error').hidden = true;
  put($('who'), t('common.who', {user: s.user, role: t('common.role.' + s.role), helpline: s.helpline || ''}));
  $('who').hidden = false;
  $('logout').hidden = false;
  // The taxonomy is fetched while the first page's module loads (all roles but network use it).
  if (s.role !== 'network') ctx.taxonomy().catch(() => {});
  const entries = NAV[session.role] || [];
  const {path} = parseHash();
  const r = ROUTES.find((x) => x.re.test(path));
  // Signing in on another role's page (a shared link) starts on this role's own first page.
  if ((!r || !entries.includes(r.nav)) && entries.length) {
    history.replaceState(null, '', '#/' + entries[0]);
  }
  route();
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  const form = $('login');
  const err = $('login-error');
  const btn = $('login-submit');
  const user = form.elements.user.value.trim();
  const password = form.elements.password.value;
  const body = {user, password};
  const hl = $('login-helpline');
  if (!hl.disabled && hl.value.trim()) body.helpline = hl.value.trim();
  if (!user || !password) {
    err.textContent = t('login.missing');
    err.hidden = false;
    return;
  }
  btn.disabled = true;
  err.hidden = true;
  try {
    const s = await api('POST', '/v1/session', body);
    form.elements.password.value = '';
    loggedIn(s);
  } catch (e) {
    form.elements.password.value = '';
    if (e instanceof ApiError && e.reply && typeof e.reply.helplines === 'number') setHelplineField(e.reply.helplines);
    let msg;
    if (e.status === 401 || e.status === 403) msg = t('login.failed');
    else if (e.status === 429 || e.status === 503) msg = t('login.busy');
    else if (e.status === 400) msg = t('login.invalid');
    else msg = t('common.error_network');
    err.textContent = msg;
    err.hidden = false;
    form.elements.password.focus();
  } finally {
    btn.disabled = false;
  }
}

async function logout() {
  try {
    await api('DELETE', '/v1/session');
  } catch (e) {
    // The session may have ended already; the browser forgets it either way.
  }
  showLogin(t('login.logged_out'));
}

function notAllowed(root) {
  put(root, h('h1', null, t('common.not_found')), h('p', null, t('common.not_found_text')));
}

async function route() {
  if (!session) return;
  const seq = ++renderSeq;
  const {path, query} = parseHash();
  const r = ROUTES.find((x) => x.re.test(path));
  const entries = NAV[session.role] || [];
  buildNav();
  const view = $('view');
  clear(view);
  // Each render gets its own element: a render still running when the user moves on
  // writes into a detached element, never into the next page.
  const root = h('div', {class: 'page'});
  view.appendChild(root);
  if (!r || !entries.includes(r.nav)) {
    if (!path && entries.length) { navigate('/' + entries[0]); return; }
    notAllowed(root);
    return;
  }
  const m = path.match(r.re);
  const params = {query};
  (r.keys || []).forEach((k, i) => { params[k] = m[i + 1]; });
  root.appendChild(h('p', {class: 'loading', role: 'status'}, t('common.loading')));
  let mod;
  try {
    mod = loaded.get(r.page);
    if (!mod) {
      mod = await import('./pages/' + r.page + '.js');
      loaded.set(r.page, mod);
    }
  } catch (e) {
    if (seq === renderSeq) put(root, h('p', {class: 'error', role: 'alert'}, t('common.page_unavailable')));
    return;
  }
  if (seq !== renderSeq) return;
  clear(root);
  try {
    await mod.render(root, params, ctx);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    if (seq === renderSeq) {
      root.appendChild(h('p', {class: 'error', role: 'alert'}, errorText(e)));
    }
  }
  // Move focus to the new page's heading unless the user is already inside the page.
  if (seq === renderSeq && !view.contains(document.activeElement)) {
    const h1 = root.querySelector('h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus({preventScroll: true}); }
  }
}

// A readable message for any error a page meets (exported for pages through ctx.errorText).
export function errorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 0) return t('common.error_network');
    if (e.status === 403) return t('common.error_forbidden');
    if (e.status === 404) return t('common.error_not_found');
    if (e.status === 503) return t('common.error_unavailable');
    const where = e.field ? ' (' + e.field + ')' : '';
    return t('common.error_api', {message: e.message || e.code, status: e.status}) + where;
  }
  return t('common.error_unexpected');
}
ctx.errorText = errorText;

async function boot() {
  const sel = $('lang');
  // Who is logged in is asked while the catalogues load.
  const who = api('GET', '/v1/session');
  who.catch(() => {});
  const code = await setLang(initialLang()).catch(() => setLang('en'));
  sel.value = code;
  translateStatic(document);
  sel.addEventListener('change', async () => {
    await setLang(sel.value);
    translateStatic(document);
    if (session) {
      put($('who'), t('common.who', {user: session.user, role: t('common.role.' + session.role), helpline: session.helpline || ''}));
      route();
    }
  });
  $('login').addEventListener('submit', onLoginSubmit);
  $('logout').addEventListener('click', logout);
  $('skip').addEventListener('click', (ev) => { ev.preventDefault(); $('view').focus(); });
  window.addEventListener('hashchange', route);
  onUnauth(() => { if (session) showLogin(t('login.expired'), true); });
  try {
    const s = await who;
    loggedIn(s);
  } catch (e) {
    if (e instanceof ApiError && e.reply && typeof e.reply.helplines === 'number') setHelplineField(e.reply.helplines);
    showLogin(e instanceof ApiError && (e.status === 401 || e.status === 404) ? '' : t('common.error_network'));
  }
}

boot();
