// The back office's "Users and tokens" section (the admin's only): the named tokens (name,
// role, created, last used, Revoke) and a form that makes one, whose token is shown this once
// with a Copy button.

import * as api from './api.js';
import { showError } from './forms.js';

const $ = (id) => document.getElementById(id);

/**
 * initTokens({token, hooks}) wires the section; token() is the signed-in token, hooks.tokens
 * gets the list as last loaded (for browser tests). Returns {refresh(role)}, to call on every
 * sign-in: it reloads the list (anyone but the admin sees nothing of it) and hides a token
 * shown before.
 */
export function initTokens({ token, hooks }) {
  const ui = {
    form: $('tokens-form'), name: $('tk-name'), role: $('tk-role'), nameError: $('tk-name-error'),
    roleError: $('tk-role-error'), error: $('tokens-error'), rows: $('tokens-rows'), empty: $('tokens-empty'),
    created: $('new-token'), createdTitle: $('new-token-title'), value: $('new-token-value'),
    copy: $('new-token-copy'), done: $('new-token-done'), copied: $('new-token-copied'),
  };
  hooks.tokens = [];
  if (!ui.form) return { refresh() {} };
  let role = null;
  let loading = 0; // the latest load's number: older answers are dropped

  function clearErrors() {
    for (const el of [ui.nameError, ui.roleError, ui.error]) showError(el, '');
  }

  function hideCreated() {
    ui.created.hidden = true;
    ui.value.value = '';
    ui.copied.hidden = true;
  }

  async function load() {
    const n = ++loading;
    if (role !== 'admin') {
      hooks.tokens = [];
      ui.rows.replaceChildren();
      return;
    }
    try {
      const list = await api.listTokens(token());
      if (n !== loading) return;
      hooks.tokens = list;
      render(list);
      showError(ui.error, '');
    } catch (err) {
      if (n !== loading) return;
      showError(ui.error, `The tokens could not be loaded: ${err.message}.`);
    }
  }

  function render(list) {
    const when = (t) => new Date(t).toLocaleString(hooks.store?.locale, { dateStyle: 'medium', timeStyle: 'short' });
    ui.rows.replaceChildren(...list.map((tk) => {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'token-row';
      tr.dataset.id = tk.id;
      const cell = (text, testid) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (testid) td.dataset.testid = testid;
        tr.append(td);
        return td;
      };
      cell(tk.name, 'token-name');
      cell(tk.role === 'admin' ? 'Admin' : 'Staff', 'token-role');
      cell(when(tk.created));
      cell(tk.last_used ? when(tk.last_used) : 'Never', 'token-last-used');
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'danger';
      revoke.textContent = 'Revoke';
      revoke.dataset.testid = 'token-revoke';
      revoke.setAttribute('aria-label', `Revoke ${tk.name}`);
      revoke.addEventListener('click', () => revokeToken(tk, revoke));
      cell('').append(revoke);
      return tr;
    }));
    ui.empty.hidden = list.length > 0;
  }

  async function revokeToken(tk, button) {
    if (!window.confirm(`Revoke “${tk.name}”? Whoever holds this token is signed out at once, and it cannot be restored.`)) return;
    button.disabled = true;
    try {
      await api.revokeToken(tk.id, token());
      showError(ui.error, '');
    } catch (err) {
      // 404: revoked already (in another tab, say): the list below says what is left.
      if (err.status !== 404) showError(ui.error, `“${tk.name}” was not revoked: ${err.message}.`);
    }
    await load();
  }

  ui.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    hideCreated();
    const submit = ui.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const made = await api.createToken({ name: ui.name.value.trim(), role: ui.role.value }, token());
      ui.createdTitle.textContent = `Token for “${made.name}” (${made.role}) created.`;
      ui.value.value = made.token;
      ui.created.hidden = false;
      ui.form.reset();
      ui.value.focus();
      ui.value.select();
    } catch (err) {
      const el = err.field === 'name' ? ui.nameError : err.field === 'role' ? ui.roleError : ui.error;
      showError(el, err.message);
      if (el === ui.nameError) ui.name.focus();
    } finally {
      submit.disabled = false;
    }
    await load();
  });

  ui.copy.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(ui.value.value);
      ok = true;
    } catch {
      // No clipboard API (a page served over plain HTTP from another host): the old way.
      ui.value.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    ui.copied.textContent = ok ? 'Copied.' : 'Your browser did not allow copying: select the token and copy it by hand.';
    ui.copied.hidden = false;
  });
  ui.done.addEventListener('click', hideCreated);

  return {
    refresh(newRole) {
      // A sign-in, even again with the same token: a token shown before is hidden.
      hideCreated();
      clearErrors();
      role = newRole || null;
      load();
    },
  };
}
