// #/users (admin): the users of the admin's helpline through the users API (docs/http-api.md
// "Users"): list, add with a role (the new access token is shown once, in the page only),
// set a web password (at least 12 characters; not for frontend users, which are machines),
// revoke (not one's own user: the daemon refuses it).
import {api} from '../lib/api.js';
import {h, put, clear, field, select, day} from '../lib/dom.js';
import {t, lang} from '../lib/i18n.js';
import {voptions, vname} from '../lib/vocab.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const PASSWORD_MIN = 12;
let openPanel = null;

function enc(name) {
  return encodeURIComponent(name);
}

// GET /v1/users: {"items": [{name, role, created_at, revoked, has_password}]}.
function items(reply) {
  return reply && Array.isArray(reply.items) ? reply.items : [];
}

export async function render(root, params, ctx) {
  const listBox = h('div', {id: 'users-list'});
  const status = h('p', {id: 'users-status', role: 'status', class: 'muted', tabindex: '-1'});
  const tokenBox = h('div', {id: 'user-token-box'});
  put(root,
    h('h1', null, t('users.title')),
    addForm(tokenBox, status, listBox, ctx),
    tokenBox,
    h('h2', {id: 'users-list-title'}, t('users.list')),
    status,
    listBox);
  await refresh(listBox, status, ctx);
}

function addForm(tokenBox, status, listBox, ctx) {
  const name = h('input', {id: 'user-name', name: 'name', required: true, maxlength: '64',
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', pattern: NAME_RE.source.slice(1, -1),
    oninput: () => { error.hidden = true; }});
  const role = select({id: 'user-role', name: 'role', value: 'counsellor'}, voptions('role'));
  const error = h('p', {id: 'user-add-error', class: 'error', role: 'alert', hidden: true});
  const submit = h('button', {type: 'submit', id: 'user-add-submit', class: 'primary'}, t('users.add'));
  const form = h('form', {id: 'user-add', method: 'post', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const n = name.value.trim();
    if (!NAME_RE.test(n)) {
      put(error, t('users.bad_name'));
      error.hidden = false;
      name.focus();
      return;
    }
    submit.disabled = true;
    try {
      const reply = await api('POST', '/v1/users', {name: n, role: role.value});
      form.reset();
      role.value = 'counsellor';
      showToken(tokenBox, reply && reply.name ? reply.name : n, reply && reply.token);
      await refresh(listBox, status, ctx);
    } catch (e) {
      put(error, e.status === 409 ? t('users.exists', {name: n}) : ctx.errorText(e));
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }},
  h('fieldset', null,
    h('legend', null, t('users.add_title')),
    h('div', {class: 'row'},
      field(t('users.name'), name, t('users.name_hint')),
      field(t('users.role'), role)),
    error,
    h('div', {class: 'actions'}, submit)));
  return form;
}

// The new token, once: in the page only (no variable keeps it), gone with "Done".
function showToken(box, name, token) {
  if (!token) {
    put(box, h('p', {class: 'notice', role: 'status'}, t('users.added', {name})));
    return;
  }
  const out = h('input', {id: 'user-token', readOnly: true, value: token, spellcheck: 'false',
    autocomplete: 'off', class: 'token'});
  const copied = h('span', {class: 'muted', role: 'status'});
  put(box, h('div', {class: 'warn', id: 'user-token-note'},
    h('p', null, t('users.added', {name})),
    field(t('users.token_label', {name}), out),
    h('p', null, h('strong', null, t('users.token_once'))),
    h('p', {class: 'hint'}, t('users.token_use')),
    h('div', {class: 'actions'},
      h('button', {type: 'button', id: 'user-token-copy', onclick: async () => {
        try {
          await navigator.clipboard.writeText(token);
          put(copied, t('users.copied'));
        } catch (e) {
          out.select();
          put(copied, t('users.copy_by_hand'));
        }
      }}, t('users.copy')),
      h('button', {type: 'button', id: 'user-token-done', onclick: () => {
        clear(box);
        document.getElementById('user-name').focus();
      }}, t('users.done')),
      copied)));
  out.focus();
  out.select();
}

async function refresh(listBox, status, ctx) {
  put(status, t('common.loading'));
  let users;
  try {
    users = items(await api('GET', '/v1/users'));
  } catch (e) {
    put(status, h('span', {class: 'error', role: 'alert'}, ctx.errorText(e)));
    return;
  }
  put(status, t('users.count', {n: users.length}));
  users.sort((a, b) => ((a.revoked === true) - (b.revoked === true)) || String(a.name).localeCompare(String(b.name), lang()));
  const me = ctx.session ? ctx.session.user : null;
  const rows = users.map((u) => userRow(u, me, listBox, status, ctx));
  put(listBox, users.length === 0 ? h('p', null, t('common.no_items')) : h('div', {class: 'table-wrap'},
    h('table', {id: 'users-table', 'aria-labelledby': 'users-list-title'},
      h('thead', null, h('tr', null,
        h('th', {scope: 'col'}, t('users.name')),
        h('th', {scope: 'col'}, t('users.role')),
        h('th', {scope: 'col'}, t('users.password')),
        h('th', {scope: 'col'}, t('users.status')),
        h('th', {scope: 'col'}, t('users.created')),
        h('th', {scope: 'col'}, t('users.actions')))),
      rows)));
}

function userRow(u, me, listBox, status, ctx) {
  const revoked = u.revoked === true;
  const panel = h('div', {class: 'user-panel'});
  const panelRow = h('tr', {class: 'user-panel-row', hidden: true}, h('td', {colspan: '6'}, panel));
  // One panel open at a time (their fields have fixed ids).
  panel.open = (content) => {
    if (openPanel && openPanel !== panel && openPanel.isConnected) openPanel.close(false);
    openPanel = panel;
    panel.opener = document.activeElement;
    put(panel, content);
    panelRow.hidden = false;
  };
  // Cancel gives the focus back to the button that opened the panel.
  panel.close = (refocus = true) => {
    clear(panel);
    panelRow.hidden = true;
    if (refocus && panel.opener && panel.opener.isConnected) panel.opener.focus();
  };
  const actions = [];
  if (!revoked && u.role !== 'frontend') {
    actions.push(h('button', {type: 'button', class: 'set-password', 'data-user': u.name,
      'aria-label': t('users.set_password_for', {name: u.name}),
      onclick: () => passwordForm(panel, u, listBox, status, ctx)}, t('users.set_password')));
  }
  // The daemon refuses an admin's revoking their own user (409 own_user).
  if (!revoked && u.name !== me) {
    actions.push(h('button', {type: 'button', class: 'revoke', 'data-user': u.name,
      'aria-label': t('users.revoke_user', {name: u.name}),
      onclick: () => revokeConfirm(panel, u, listBox, status, ctx)}, t('users.revoke')));
  }
  return h('tbody', {'data-user': u.name},
    h('tr', null,
      h('th', {scope: 'row'}, u.name),
      h('td', null, vname('role', u.role)),
      h('td', null, u.role === 'frontend' ? t('users.password_none_machine')
        : u.has_password === true ? t('users.password_set') : t('users.password_not_set')),
      h('td', null, revoked ? t('users.revoked') : t('users.active')),
      h('td', null, u.created_at ? day(u.created_at, lang()) : ''),
      h('td', null, h('div', {class: 'actions'}, actions))),
    panelRow);
}

function passwordForm(panel, u, listBox, status, ctx) {
  const pw = h('input', {type: 'password', id: 'user-password', name: 'password', autocomplete: 'new-password',
    minlength: String(PASSWORD_MIN), required: true});
  const pw2 = h('input', {type: 'password', id: 'user-password2', name: 'password2', autocomplete: 'new-password',
    minlength: String(PASSWORD_MIN), required: true});
  const error = h('p', {id: 'user-password-error', class: 'error', role: 'alert', hidden: true});
  const save = h('button', {type: 'submit', id: 'user-password-save', class: 'primary'}, t('common.save'));
  // An account name for password managers, not shown.
  const account = h('input', {type: 'text', name: 'username', autocomplete: 'username', value: u.name,
    hidden: true, readOnly: true, 'aria-hidden': 'true', tabindex: '-1'});
  const form = h('form', {id: 'user-password-form', method: 'post', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const p = pw.value;
    let msg = null;
    if (Array.from(p).length < PASSWORD_MIN) msg = t('users.password_short', {n: PASSWORD_MIN});
    else if (p !== pw2.value) msg = t('users.password_mismatch');
    if (msg) {
      put(error, msg);
      error.hidden = false;
      pw.focus();
      return;
    }
    save.disabled = true;
    try {
      await api('PUT', '/v1/users/' + enc(u.name) + '/password', {password: p});
      pw.value = '';
      pw2.value = '';
      await refresh(listBox, status, ctx);
      put(status, h('span', {class: 'notice'}, t('users.password_saved', {name: u.name})));
      status.focus();
    } catch (e) {
      put(error, ctx.errorText(e));
      error.hidden = false;
      save.disabled = false;
    }
  }},
  h('fieldset', null,
    h('legend', null, t('users.set_password_for', {name: u.name})),
    account,
    h('div', {class: 'row'},
      field(t('users.new_password'), pw, t('users.password_hint', {n: PASSWORD_MIN})),
      field(t('users.repeat_password'), pw2)),
    error,
    h('div', {class: 'actions'}, save,
      h('button', {type: 'button', onclick: () => panel.close()}, t('common.cancel')))));
  panel.open(form);
  pw.focus();
}

function revokeConfirm(panel, u, listBox, status, ctx) {
  const error = h('p', {class: 'error', role: 'alert', hidden: true});
  const yes = h('button', {type: 'button', id: 'user-revoke-confirm', class: 'danger', onclick: async () => {
    yes.disabled = true;
    try {
      await api('DELETE', '/v1/users/' + enc(u.name));
      await refresh(listBox, status, ctx);
      put(status, h('span', {class: 'notice'}, t('users.revoked_done', {name: u.name})));
      status.focus();
    } catch (e) {
      put(error, ctx.errorText(e));
      error.hidden = false;
      yes.disabled = false;
    }
  }}, t('users.revoke_confirm', {name: u.name}));
  panel.open(h('div', {class: 'warn', role: 'group', 'aria-label': t('users.revoke_user', {name: u.name})},
    h('p', null, t('users.revoke_question', {name: u.name})),
    error,
    h('div', {class: 'actions'}, yes,
      h('button', {type: 'button', onclick: () => panel.close()}, t('common.cancel')))));
  yes.focus();
}
