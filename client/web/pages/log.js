// Log a contact (POST /v1/contacts) while the call or chat is open. The unsaved form is kept
// in this module's memory (never in browser storage) when the counsellor moves to another page,
// and dropped at logout. After saving: the id, the repeat-caller count, suggested categories to
// confirm, and linking the contact to one of the counsellor's open cases.
import {h, put, clear, field, select} from '../lib/dom.js';
import {contactForm, newSourceId, localInput, indexTaxonomy, catName} from '../lib/contactform.js';
import {vname} from '../lib/vocab.js';

let draft = null;      // {sourceId, state} of the contact being written
let lastSaved = null;  // the reply of the last save, shown until the next one

export function reset() {
  draft = null;
  lastSaved = null;
}

function newDraft() {
  return {sourceId: newSourceId(), state: {'started-at': localInput()}};
}

export async function render(root, params, ctx) {
  const {t} = ctx;
  const saved = h('section', {id: 'saved', 'aria-live': 'polite', hidden: true});
  root.append(h('h1', null, t('log.title')), saved);
  let form = null;

  // (Re)builds the form from the current draft in place; #saved stays the same element.
  async function mount() {
    if (!draft) draft = newDraft();
    const mine = draft;
    const cf = await contactForm(ctx, {
      mode: 'create', id: 'contact-form', draft: mine.state, sourceId: mine.sourceId,
      admin: ctx.session.role === 'admin',
      onChange: (s) => { if (draft === mine) mine.state = s; },
    });
    const save = h('button', {type: 'submit', id: 'save', class: 'primary'}, t('log.save'));
    const clearBtn = h('button', {type: 'button', id: 'form-clear'}, t('log.clear'));
    cf.form.appendChild(h('div', {class: 'actions'}, save, clearBtn));
    clearBtn.addEventListener('click', async () => {
      if (!window.confirm(t('log.clear_confirm'))) return;
      draft = newDraft();
      await mount();
      cf.focus();
    });
    cf.form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      cf.clearError();
      const bad = cf.check();
      if (bad) { cf.showError(bad); return; }
      save.disabled = true;
      save.textContent = t('common.saving');
      try {
        const r = await ctx.api('POST', '/v1/contacts', cf.body());
        // Stored: the next contact gets a new source id and an empty form.
        lastSaved = r;
        draft = newDraft();
        await showSaved(saved, r, ctx);
        saved.setAttribute('tabindex', '-1');
        saved.focus();
        await mount();
      } catch (e) {
        save.disabled = false;
        save.textContent = t('log.save');
        if (e.status !== 401) cf.showError(e);
      }
    });
    if (form) form.replaceWith(cf.form); else root.appendChild(cf.form);
    form = cf.form;
  }
  if (lastSaved) await showSaved(saved, lastSaved, ctx);
  await mount();
}

async function showSaved(box, r, ctx) {
  const {t} = ctx;
  const tax = await ctx.taxonomy();
  const index = indexTaxonomy(tax);
  const kids = [h('h2', null, t('log.saved_title'))];
  const status = r.status === 'duplicate' ? t('log.saved_duplicate') : r.status === 'spooled' ? t('log.saved_spooled') : t('log.saved_created');
  kids.push(h('p', {class: 'notice'}, status, ' ', t('log.saved_id'), ' ', h('code', {id: 'saved-id'}, r.id)));
  const prev = r.repeat_caller ? r.repeat_caller.previous_contacts : undefined;
  if (typeof prev === 'number') {
    kids.push(h('p', {id: 'repeat-caller', class: prev > 0 ? 'warn' : null},
      prev > 0 ? t('log.repeat_caller', {n: prev}) : t('log.repeat_caller_none'), ' ',
      prev > 0 ? h('a', {href: '#/contacts?caller_of=' + encodeURIComponent(r.id)}, t('log.repeat_caller_list')) : null));
  } else if (r.status !== 'duplicate') {
    kids.push(h('p', {id: 'repeat-caller', class: 'hint'}, r.status === 'spooled' ? t('log.repeat_caller_later') : t('log.repeat_caller_nophone')));
  }
  const cats = r.categories || [];
  if (cats.length) {
    kids.push(h('ul', {class: 'chips', 'aria-label': t('log.saved_categories')}, cats.map((c) =>
      h('li', {class: 'chip' + (c.source === 'suggested' ? ' suggested' : '')},
        (index.has(c.code) ? catName(index, c.code) : c.label) + ' (' + t('log.source_' + c.source) + ')'))));
  }
  const created = r.status === 'created';
  if (created && cats.some((c) => c.source === 'suggested')) {
    const msg = h('span', {role: 'status'});
    const btn = h('button', {type: 'button', id: 'confirm-suggested'}, t('log.confirm_suggested'));
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const u = await ctx.api('PATCH', '/v1/contacts/' + encodeURIComponent(r.id), {confirm_suggested: true});
        r.categories = u.categories || r.categories;
        btn.hidden = true;
        msg.textContent = t('log.confirmed');
      } catch (e) {
        btn.disabled = false;
        msg.textContent = ctx.errorText(e);
      }
    });
    kids.push(h('div', {class: 'actions'}, btn, msg));
  }
  kids.push(h('p', null, h('a', {href: '#/contacts/' + encodeURIComponent(r.id), id: 'saved-open'}, t('log.saved_open'))));
  if (created && ['counsellor', 'admin', 'supervisor'].includes(ctx.session.role)) kids.push(linkOffer(r.id, ctx));
  kids.push(h('div', {class: 'actions'}, h('button', {type: 'button', id: 'saved-dismiss',
    onclick: () => { lastSaved = null; box.hidden = true; clear(box); const c = document.getElementById('channel'); if (c) c.focus(); }},
  t('log.saved_dismiss'))));
  put(box, kids);
  box.hidden = false;
}

// Link the new contact to one of the counsellor's open cases, or open a new case with it.
// The cases' labels are sealed: they are read (and audited) only when the counsellor asks.
export function linkOffer(contactId, ctx) {
  const {t} = ctx;
  const box = h('section', {id: 'link-offer', 'aria-labelledby': 'link-title'}, h('h3', {id: 'link-title'}, t('log.link_title')));
  const msg = h('p', {id: 'link-result', role: 'status'});
  const load = h('button', {type: 'button', id: 'link-load'}, t('log.link_load'));
  const newLabel = h('input', {id: 'new-case-label', maxlength: '200', autocomplete: 'off'});
  const newBtn = h('button', {type: 'button', id: 'new-case-submit'}, t('log.new_case'));
  const done = (text, href) => {
    put(msg, text, ' ', href ? h('a', {href}, t('log.link_open_case')) : null);
    load.disabled = true;
    newBtn.disabled = true;
  };
  load.addEventListener('click', async () => {
    load.disabled = true;
    put(msg, t('common.loading'));
    try {
      const lists = await Promise.all(['open', 'in_progress'].map((s) =>
        ctx.api('GET', '/v1/cases?status=' + s + '&assigned_to=me&limit=9')));
      const items = lists.flatMap((l) => l.items || [])
        .sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, 9);
      if (!items.length) { put(msg, t('log.link_none')); return; }
      const full = await Promise.all(items.map((c) => ctx.api('GET', '/v1/cases/' + encodeURIComponent(c.id)).catch(() => c)));
      const pick = select({id: 'link-case'}, full.map((c) => [c.id,
        (c.label || c.id) + ' — ' + vname('status', c.status) + ', ' + vname('priority', c.priority)]));
      const go = h('button', {type: 'button', id: 'link-case-submit', class: 'primary'}, t('log.link_submit'));
      go.addEventListener('click', async () => {
        go.disabled = true;
        try {
          await ctx.api('PUT', '/v1/cases/' + encodeURIComponent(pick.value) + '/contacts/' + encodeURIComponent(contactId));
          done(t('log.linked'), '#/cases/' + encodeURIComponent(pick.value));
        } catch (e) {
          go.disabled = false;
          put(msg, e.code === 'already_linked' ? t('log.link_already') : ctx.errorText(e));
        }
      });
      clear(msg);
      load.replaceWith(h('div', {class: 'actions'}, field(t('log.link_case'), pick), go));
    } catch (e) {
      load.disabled = false;
      put(msg, ctx.errorText(e));
    }
  });
  newBtn.addEventListener('click', async () => {
    const label = newLabel.value.trim();
    if (!label) { put(msg, t('log.new_case_label_needed')); newLabel.focus(); return; }
    newBtn.disabled = true;
    try {
      const c = await ctx.api('POST', '/v1/cases', {label, contacts: [contactId]});
      newLabel.value = '';
      done(t('log.new_case_done'), '#/cases/' + encodeURIComponent(c.id));
    } catch (e) {
      newBtn.disabled = false;
      put(msg, ctx.errorText(e));
    }
  });
  newLabel.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); newBtn.click(); } });
  box.append(h('div', {class: 'actions'}, load),
    h('div', {class: 'actions'}, field(t('log.new_case_label'), newLabel), newBtn), msg);
  return box;
}
