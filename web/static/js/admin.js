// The admin page: register products (photos from files or the camera), list and delete them
// and their learned views, answer the review queue, and watch and edit the pipelines.

import * as api from './api.js';
import { WhepViewer } from './whep.js';
import { RoiEditor } from './roi.js';
import { initTokens } from './tokens.js';
import { showError } from './forms.js';

const TOKEN_KEY = 'ebrcs.adminToken';
const MAX_IMAGES = 3;
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
const ui = {
  token: $('token'), tokenShow: $('token-show'), tokenError: $('token-error'), tokenStatus: $('token-status'),
  form: $('product-form'), name: $('name'), images: $('images'), sku: $('sku'), price: $('price'),
  previews: $('previews'), cameraOpen: $('camera-open'), camera: $('camera'), cameraVideo: $('camera-video'),
  cameraCapture: $('camera-capture'), cameraClose: $('camera-close'),
  formError: $('form-error'), formOk: $('form-ok'), register: $('register'),
  productList: $('product-list'), productsEmpty: $('products-empty'), productsError: $('products-error'), productCount: $('product-count'),
  pipelineRows: $('pipeline-rows'), pipelinesError: $('pipelines-error'),
  queueList: $('queue-list'), queueEmpty: $('queue-empty'), queueError: $('queue-error'), queueCount: $('queue-count'),
};

/**
 * Hooks for automated browser tests: the product list, the pipelines, the review queue and
 * each open product's learned views (by product id), as last loaded.
 */
const hooks = { products: [], pipelines: [], reviews: [], views: {}, role: null, counts: [], purchases: [], store: null, monitor: [] };
window.ebrcsAdmin = hooks;
// The admin's named tokens ("Users and tokens"); hooks.tokens is its list.
const tokensSection = initTokens({ token: () => token(), hooks });

// --- token ---

function loadToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

function token() {
  return ui.token.value.trim();
}

ui.token.value = loadToken();
let checkTimer = 0;
let checking = 0; // the latest check's number: older answers are dropped
ui.token.addEventListener('input', () => {
  try { localStorage.setItem(TOKEN_KEY, token()); } catch { /* storage disabled: kept for this page only */ }
  showError(ui.tokenError, '');
  clearTimeout(checkTimer);
  checkTimer = setTimeout(checkToken, 300); // checked at once, once typed
});

/** Asks the server what the token is (GET /api/whoami): signs in with its role, or says what is wrong. */
async function checkToken() {
  const t = token();
  const n = ++checking;
  if (!t) {
    setRole(null);
    ui.tokenStatus.hidden = true;
    showError(ui.tokenError, '');
    return;
  }
  try {
    const who = await api.whoami(t);
    if (n !== checking) return;
    setRole(who.role);
    showError(ui.tokenError, '');
    const as = who.token_id ? ` (“${who.name}”)` : ''; // a named token: whose it is
    ui.tokenStatus.textContent = who.role === 'admin'
      ? `Signed in as admin${as}: catalog, pipelines, reviews, stations and tokens.`
      : `Signed in as staff${as}: reviews and stations (the catalog and pipelines are the admin’s).`;
    ui.tokenStatus.hidden = false;
  } catch (err) {
    if (n !== checking) return;
    setRole(null);
    ui.tokenStatus.hidden = true;
    showError(ui.tokenError, err.status === 0 ? err.message : `Not signed in: ${err.message}.`);
  }
}

function setRole(role) {
  hooks.role = role || null;
  document.body.dataset.role = role || '';
  tokensSection.refresh(role);
  refreshQueue();
  if (role) loadHistory();
  // Later, not now: this can run while the module is still being evaluated (the monitor's
  // state is declared further down).
  setTimeout(() => {
    for (const id of [...viewers.keys()]) dropTile(id); // watched with the old token
    refreshMonitor();
  }, 0);
}
$('token-form').addEventListener('submit', (e) => e.preventDefault());
ui.tokenShow.addEventListener('click', () => {
  const show = ui.token.type === 'password';
  ui.token.type = show ? 'text' : 'password';
  ui.tokenShow.textContent = show ? 'Hide' : 'Show';
  ui.tokenShow.setAttribute('aria-pressed', String(show));
});

/** True when a token is entered; otherwise says so next to the token field. */
function needToken() {
  if (token()) return true;
  showError(ui.tokenError, 'Enter the admin token first (the server’s admin_token, or var/admin-token on the server).');
  ui.token.focus();
  return false;
}

function tokenRefused(err) {
  showError(ui.tokenError, `Refused: ${err.message}.`);
}

// --- errors next to fields ---

const FIELD_ERRORS = { name: 'name-error', images: 'images-error', image: 'images-error', video: 'images-error', sku: 'sku-error', price: 'price-error', price_cents: 'price-error' };

/** The error element for an API field ("images[1]" → the photos' error). */
function errorElementFor(field) {
  const base = String(field || '').split(/[.[]/)[0];
  const id = FIELD_ERRORS[base];
  return id ? $(id) : ui.formError;
}

function clearFormErrors() {
  for (const id of new Set(Object.values(FIELD_ERRORS))) showError($(id), '');
  showError(ui.formError, '');
  ui.formOk.hidden = true;
}

// --- photos ---

let images = []; // {file, url}

function addImages(files) {
  showError($('images-error'), '');
  for (const file of files) {
    if (images.length >= MAX_IMAGES) {
      showError($('images-error'), `At most ${MAX_IMAGES} photos: remove one to add another.`);
      break;
    }
    if (file.type && !file.type.startsWith('image/')) {
      showError($('images-error'), `${file.name} is not an image.`);
      continue;
    }
    images.push({ file, url: URL.createObjectURL(file) });
  }
  renderPreviews();
}

function removeImage(i) {
  const [img] = images.splice(i, 1);
  if (img) URL.revokeObjectURL(img.url);
  showError($('images-error'), '');
  renderPreviews();
}

function renderPreviews() {
  ui.previews.replaceChildren(...images.map((img, i) => {
    const li = document.createElement('li');
    li.dataset.testid = 'image-preview';
    const pic = document.createElement('img');
    pic.src = img.url;
    pic.alt = `Photo ${i + 1}: ${img.file.name}`;
    const rm = document.createElement('button');
    rm.type = 'button';
    rm.textContent = 'Remove';
    rm.dataset.testid = 'image-remove';
    rm.setAttribute('aria-label', `Remove photo ${i + 1}`);
    rm.addEventListener('click', () => removeImage(i));
    li.append(pic, rm);
    return li;
  }));
  const full = images.length >= MAX_IMAGES;
  ui.images.disabled = full;
  ui.cameraOpen.disabled = full;
  ui.cameraCapture.disabled = full;
}

ui.images.addEventListener('change', () => {
  addImages(Array.from(ui.images.files || []));
  ui.images.value = ''; // the same file can be chosen again; the list above is what is sent
});

// --- camera ---

let cameraStream = null;

async function openCamera() {
  showError($('images-error'), '');
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError($('images-error'), 'The camera is not available here: browsers only allow it on https:// pages or on http://localhost. Choose photo files instead.');
    return;
  }
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false });
  } catch (err) {
    const denied = err && (err.name === 'NotAllowedError' || err.name === 'SecurityError');
    showError($('images-error'), denied
      ? 'Camera access was refused: allow it in the browser’s site settings (browsers only allow cameras on https:// or localhost), or choose photo files.'
      : `The camera could not be started (${err && err.message ? err.message : err}).`);
    return;
  }
  ui.cameraVideo.srcObject = cameraStream;
  ui.camera.hidden = false;
  ui.cameraVideo.play().catch(() => {});
}

function closeCamera() {
  if (cameraStream) for (const t of cameraStream.getTracks()) t.stop();
  cameraStream = null;
  ui.cameraVideo.srcObject = null;
  ui.camera.hidden = true;
}

function capture() {
  const v = ui.cameraVideo;
  if (!v.videoWidth) return;
  const canvas = document.createElement('canvas');
  canvas.width = v.videoWidth;
  canvas.height = v.videoHeight;
  canvas.getContext('2d').drawImage(v, 0, 0);
  canvas.toBlob((blob) => {
    if (!blob) {
      showError($('images-error'), 'The photo could not be taken.');
      return;
    }
    addImages([new File([blob], `photo-${Date.now()}.jpg`, { type: 'image/jpeg' })]);
    if (images.length >= MAX_IMAGES) closeCamera();
  }, 'image/jpeg', 0.92);
}

ui.cameraOpen.addEventListener('click', openCamera);
ui.cameraClose.addEventListener('click', closeCamera);
ui.cameraCapture.addEventListener('click', capture);

// --- registering ---

const PRICE = /^\d+([.,]\d{1,2})?$/;

async function register(e) {
  e.preventDefault();
  clearFormErrors();
  const name = ui.name.value.trim();
  const sku = ui.sku.value.trim();
  const price = ui.price.value.trim().replace(',', '.');
  let ok = true;
  if (!name) {
    showError($('name-error'), 'A name is required.');
    ok = false;
  }
  if (images.length < 1) {
    showError($('images-error'), 'Add at least one photo (up to 3).');
    ok = false;
  }
  if (price && !PRICE.test(price)) {
    showError($('price-error'), 'Write the price as a number, e.g. 2.49.');
    ok = false;
  }
  if (!ok || !needToken()) return;

  const form = new FormData();
  form.append('name', name);
  for (const img of images) form.append('images', img.file, img.file.name || 'photo.jpg');
  if (sku) form.append('sku', sku);
  if (price) form.append('price', price);
  ui.register.disabled = true;
  ui.register.textContent = 'Registering…';
  try {
    const p = await api.createProduct(form, token());
    ui.formOk.textContent = `Registered “${p.name}”${p.id ? ` (#${p.id})` : ''}.`;
    ui.formOk.hidden = false;
    ui.form.reset();
    for (const img of images) URL.revokeObjectURL(img.url);
    images = [];
    renderPreviews();
    closeCamera();
    loadProducts();
  } catch (err) {
    if (err.status === 401) tokenRefused(err);
    else if (err.status === 413 && !err.field) showError($('images-error'), `The photos are too large: ${err.message}`);
    else showError(errorElementFor(err.field), err.message);
  } finally {
    ui.register.disabled = false;
    ui.register.textContent = 'Register product';
  }
}

ui.form.addEventListener('submit', register);

// --- products ---

async function loadProducts() {
  try {
    const list = await api.listProducts();
    hooks.products = Array.isArray(list) ? list : [];
    showError(ui.productsError, '');
  } catch (err) {
    showError(ui.productsError, `The products could not be loaded: ${err.message}`);
    return;
  }
  renderProducts();
}

function renderProducts() {
  const list = hooks.products;
  ui.productCount.textContent = String(list.length);
  ui.productsEmpty.hidden = list.length > 0;
  ui.productList.replaceChildren(...list.map((p) => {
    const li = document.createElement('li');
    li.dataset.testid = 'product-item';
    li.dataset.id = String(p.id);
    const thumb = document.createElement('div');
    thumb.className = 'thumb';
    if (p.images > 0) {
      const img = document.createElement('img');
      img.src = photoURL(p, 1);
      img.alt = '';
      img.loading = 'lazy';
      img.addEventListener('error', () => img.remove()); // no picture rather than a broken one
      thumb.append(img);
    }
    const info = document.createElement('div');
    info.className = 'info';
    const name = document.createElement('strong');
    name.textContent = p.name;
    const meta = document.createElement('span');
    meta.className = 'meta';
    const bits = [];
    if (p.sku) bits.push(`SKU ${p.sku}`);
    bits.push(p.price_cents != null ? money(p.price_cents) : 'no price');
    bits.push(`${p.images} photo${p.images === 1 ? '' : 's'}`);
    meta.textContent = bits.join(' · ');
    info.append(name, meta);
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'danger';
    del.textContent = 'Delete';
    del.dataset.testid = 'product-delete';
    del.setAttribute('aria-label', `Delete ${p.name}`);
    del.addEventListener('click', () => deleteProduct(p, del));
    const views = document.createElement('ul');
    views.className = 'views';
    views.dataset.testid = 'learned-views';
    views.hidden = !openViews.has(p.id);
    const toggle = document.createElement('button');
    toggle.type = 'button';
    toggle.textContent = openViews.has(p.id) ? 'Hide learned' : 'Learned views';
    toggle.dataset.testid = 'views-toggle';
    toggle.setAttribute('aria-expanded', String(openViews.has(p.id)));
    toggle.setAttribute('aria-label', `Learned views of ${p.name}`);
    toggle.addEventListener('click', () => {
      const open = !openViews.has(p.id);
      if (open) openViews.add(p.id);
      else openViews.delete(p.id);
      views.hidden = !open;
      toggle.textContent = open ? 'Hide learned' : 'Learned views';
      toggle.setAttribute('aria-expanded', String(open));
      if (open) loadViews(p, views);
    });
    toggle.classList.add('admin-only');
    del.classList.add('admin-only');
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.textContent = 'Edit';
    edit.dataset.testid = 'product-edit';
    edit.className = 'admin-only';
    edit.setAttribute('aria-label', `Edit ${p.name}`);
    edit.addEventListener('click', () => {
      editing.add(p.id);
      renderProducts();
      const first = ui.productList.querySelector(`[data-id="${p.id}"] input`);
      if (first) first.focus();
    });
    if (editing.has(p.id)) {
      li.append(thumb, editForm(p), views);
      return li;
    }
    li.append(thumb, info, edit, toggle, del, views);
    if (openViews.has(p.id)) loadViews(p, views);
    return li;
  }));
}

// --- editing a product: name, SKU, price (PATCH /api/products/{id}), photos (below) ---

const editing = new Set(); // ids of the products being edited

function editForm(p) {
  const form = document.createElement('form');
  form.className = 'edit-product';
  form.dataset.testid = 'product-edit-form';
  form.noValidate = true;
  const field = (key, label, value, attrs = {}) => {
    const id = `edit-${key}-${p.id}`;
    const wrap = document.createElement('div');
    wrap.className = 'field';
    const l = document.createElement('label');
    l.htmlFor = id;
    l.textContent = label;
    const input = document.createElement('input');
    input.type = 'text';
    input.id = id;
    input.name = key;
    input.value = value;
    input.autocomplete = 'off';
    input.dataset.testid = `edit-${key}`;
    Object.assign(input, attrs);
    const err = document.createElement('p');
    err.className = 'field-error';
    err.id = `${id}-error`;
    err.hidden = true;
    input.setAttribute('aria-describedby', err.id);
    wrap.append(l, input, err);
    return wrap;
  };
  const price = p.price_cents != null ? api.formatPrice(p.price_cents) : '';
  const fields = document.createElement('div');
  fields.className = 'field-row';
  fields.append(field('name', 'Name', p.name), field('sku', 'SKU', p.sku || ''), field('price', 'Price (e.g. 2.49)', price, { inputMode: 'decimal' }));
  const formError = document.createElement('p');
  formError.className = 'field-error';
  formError.setAttribute('role', 'alert');
  formError.hidden = true;
  const save = document.createElement('button');
  save.type = 'submit';
  save.className = 'primary';
  save.textContent = 'Save';
  save.dataset.testid = 'product-save';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.textContent = 'Cancel';
  cancel.addEventListener('click', () => {
    editing.delete(p.id);
    renderProducts();
  });
  const buttons = document.createElement('div');
  buttons.className = 'buttons';
  buttons.append(save, cancel);
  form.append(fields, photosSection(p), formError, buttons);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!needToken()) return;
    for (const el of form.querySelectorAll('.field-error')) showError(el, '');
    const value = (k) => form.elements[k].value;
    const body = { name: value('name'), sku: value('sku'), price: value('price').trim() || null };
    save.disabled = true;
    try {
      await api.request('PATCH', `/api/products/${encodeURIComponent(p.id)}`, { json: body, token: token() });
      editing.delete(p.id);
      await loadProducts();
    } catch (err) {
      const el = err.field && form.querySelector(`#edit-${err.field}-${p.id}-error`);
      if (err.status === 401 || err.status === 403) tokenRefused(err);
      showError(el || formError, err.message);
      save.disabled = false;
    }
  });
  return form;
}

// --- a product's photos, in its edit form: added and removed at once (POST and DELETE
// /api/products/{id}/images), recognised with (or no longer) from the next frame ---

const photoVersions = new Map(); // product id → a counter bumped when its photos change

/** The URL of photo n of p, new whenever its photos change (n's photo changes when one before it goes). */
function photoURL(p, n) {
  return `${api.productImageURL(p.id, n)}?v=${photoVersions.get(p.id) || 0}`;
}

function photosSection(p) {
  const box = document.createElement('fieldset');
  box.className = 'edit-photos';
  box.dataset.testid = 'edit-photos';
  const legend = document.createElement('legend');
  legend.textContent = 'Photos';
  const list = document.createElement('ul');
  list.className = 'previews';
  const inputId = `edit-images-${p.id}`;
  const addLabel = document.createElement('label');
  addLabel.className = 'file-button';
  addLabel.htmlFor = inputId;
  const addText = document.createElement('span');
  const input = document.createElement('input');
  input.type = 'file';
  input.id = inputId;
  input.accept = 'image/jpeg,image/png,image/gif,image/webp';
  input.multiple = true;
  input.dataset.testid = 'edit-photo-add';
  const error = document.createElement('p');
  error.className = 'field-error';
  error.id = `${inputId}-error`;
  error.setAttribute('role', 'alert');
  error.hidden = true;
  const ok = document.createElement('p');
  ok.className = 'ok';
  ok.setAttribute('role', 'status');
  ok.dataset.testid = 'edit-photos-ok';
  ok.hidden = true;

  const render = () => {
    list.replaceChildren(...Array.from({ length: p.images }, (_, i) => {
      const n = i + 1;
      const li = document.createElement('li');
      li.dataset.testid = 'edit-photo';
      const img = document.createElement('img');
      img.src = photoURL(p, n);
      img.alt = `Photo ${n} of ${p.name}`;
      const rm = document.createElement('button');
      rm.type = 'button';
      rm.className = 'danger';
      rm.textContent = 'Remove';
      rm.dataset.testid = 'edit-photo-remove';
      rm.setAttribute('aria-label', `Remove photo ${n} of ${p.name}`);
      rm.disabled = p.images <= 1;
      if (rm.disabled) rm.title = 'A product keeps at least one photo: add another first.';
      rm.addEventListener('click', () => change(rm, () => api.removeProductImage(p.id, n, token()),
        `Photo ${n} removed: it no longer counts for recognition.`));
      li.append(img, rm);
      return li;
    }));
    const full = p.images >= MAX_IMAGES;
    input.disabled = full;
    addText.textContent = full ? `Add photos (at most ${MAX_IMAGES}: remove one first)` : 'Add photos…';
  };

  /** Runs a photo change; on success p, its photos and its thumbnail show the product as it is now. */
  const change = async (control, call, done) => {
    if (!needToken()) return;
    showError(error, '');
    ok.hidden = true;
    control.disabled = true;
    try {
      Object.assign(p, await call());
      photoVersions.set(p.id, (photoVersions.get(p.id) || 0) + 1);
      const thumb = ui.productList.querySelector(`[data-testid="product-item"][data-id="${p.id}"] .thumb img`);
      if (thumb) thumb.src = photoURL(p, 1);
      ok.textContent = done;
      ok.hidden = false;
    } catch (err) {
      if (err.status === 401 || err.status === 403) tokenRefused(err);
      showError(error, err.status === 413 && !err.field ? `The photos are too large: ${err.message}` : err.message);
    } finally {
      control.disabled = false;
      render();
    }
  };

  input.addEventListener('change', () => {
    const files = Array.from(input.files || []);
    input.value = ''; // the same file can be chosen again
    if (files.length === 0) return;
    if (p.images + files.length > MAX_IMAGES) {
      showError(error, `At most ${MAX_IMAGES} photos: this product has ${p.images}, so ${MAX_IMAGES - p.images} more at most.`);
      return;
    }
    const body = new FormData();
    for (const f of files) body.append('images', f, f.name || 'photo.jpg');
    change(input, () => api.addProductImages(p.id, body, token()),
      `${files.length === 1 ? 'Photo' : `${files.length} photos`} added: recognised from the next frame.`);
  });
  addLabel.append(addText, input);
  const hint = document.createElement('p');
  hint.className = 'hint';
  hint.id = `${inputId}-hint`;
  hint.textContent = `1 to ${MAX_IMAGES} photos; each change counts for recognition at once. On a phone, Add photos offers the camera.`;
  input.setAttribute('aria-describedby', `${hint.id} ${error.id}`);
  render();
  box.append(legend, list, addLabel, hint, error, ok);
  return box;
}

// --- learned views: what answers and corrections taught the catalog about a product ---

const openViews = new Set(); // ids of the products whose learned views are shown
const blobs = new Map(); // image URL → object URL of its bytes (the images need the token)

/** An <img> of an image that needs the admin token, loaded through fetch. */
function tokenImage(url, alt) {
  const img = document.createElement('img');
  img.alt = alt;
  const known = blobs.get(url);
  if (known) {
    img.src = known;
    return img;
  }
  api.imageBlobURL(url, token()).then((obj) => {
    blobs.set(url, obj);
    img.src = obj;
  }).catch(() => img.remove());
  return img;
}

/** Forgets the object URLs of images no longer shown. */
function releaseBlobs(keep) {
  for (const [url, obj] of blobs) {
    if (!keep.has(url)) {
      URL.revokeObjectURL(obj);
      blobs.delete(url);
    }
  }
}

const ORIGINS = { review: 'answered review', correction: 'cart correction' };

async function loadViews(p, list) {
  if (!token()) {
    const hint = document.createElement('li');
    hint.className = 'hint';
    hint.textContent = 'Enter the admin token to see the learned views.';
    list.replaceChildren(hint);
    return;
  }
  let views;
  try {
    views = await api.listViews(p.id, token());
  } catch (err) {
    if (err.status === 401) tokenRefused(err);
    const li = document.createElement('li');
    li.className = 'field-error';
    li.textContent = `The learned views could not be loaded: ${err.message}`;
    list.replaceChildren(li);
    return;
  }
  views = Array.isArray(views) ? views : [];
  hooks.views[p.id] = views;
  if (views.length === 0) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.dataset.testid = 'views-empty';
    li.textContent = 'None yet: answers to reviews and cart corrections add them.';
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...views.map((v) => {
    const li = document.createElement('li');
    li.dataset.testid = 'learned-view';
    li.dataset.id = String(v.id);
    const when = v.created_at ? new Date(v.created_at) : null;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${ORIGINS[v.origin] || v.origin || '?'}${when && !Number.isNaN(when.getTime()) ? ` · ${when.toLocaleString()}` : ''}`;
    const rm = document.createElement('button');
    rm.type = 'button';
    rm.className = 'danger';
    rm.textContent = 'Remove';
    rm.dataset.testid = 'view-remove';
    rm.setAttribute('aria-label', `Remove learned view ${v.id} of ${p.name}`);
    rm.addEventListener('click', () => removeView(p, v, list, rm));
    li.append(tokenImage(api.viewImageURL(p.id, v.id), `Learned view ${v.id} of ${p.name}`), meta, rm);
    return li;
  }));
}

async function removeView(p, v, list, button) {
  if (!window.confirm(`Remove this learned view of “${p.name}”? It will no longer help recognise it.`)) return;
  if (!needToken()) return;
  button.disabled = true;
  try {
    await api.deleteView(p.id, v.id, token());
  } catch (err) {
    if (err.status === 401) tokenRefused(err);
    else showError(ui.productsError, `The learned view could not be removed: ${err.message}`);
    button.disabled = false;
    return;
  }
  loadViews(p, list);
}

async function deleteProduct(p, button) {
  if (!window.confirm(`Delete “${p.name}” from the catalog? It will no longer be recognised.`)) return;
  if (!needToken()) return;
  button.disabled = true;
  try {
    await api.deleteProduct(p.id, token());
    showError(ui.productsError, '');
  } catch (err) {
    if (err.status === 401) tokenRefused(err);
    else showError(ui.productsError, `“${p.name}” could not be deleted: ${err.message}`);
    button.disabled = false;
    return;
  }
  loadProducts();
}

// --- pipelines ---

const rows = new Map(); // name → the row's elements

function cell(tr) {
  const td = document.createElement('td');
  tr.append(td);
  return td;
}

function pipelineRow(name) {
  const tr = document.createElement('tr');
  tr.dataset.testid = 'pipeline-row';
  tr.dataset.name = name;
  const nameCell = document.createElement('th');
  nameCell.scope = 'row';
  const nameText = document.createElement('span');
  nameText.textContent = name;
  const file = document.createElement('small');
  file.className = 'meta';
  nameCell.append(nameText, file);
  tr.append(nameCell);
  const state = document.createElement('span');
  state.className = 'badge small';
  state.dataset.testid = 'pipeline-state';
  cell(tr).append(state);
  const restarts = cell(tr);
  restarts.dataset.testid = 'pipeline-restarts';
  const error = cell(tr);
  error.className = 'error-cell';
  error.dataset.testid = 'pipeline-last-error';
  const toggle = document.createElement('button');
  toggle.type = 'button';
  toggle.textContent = 'View YAML';
  toggle.dataset.testid = 'pipeline-view';
  toggle.setAttribute('aria-expanded', 'false');
  cell(tr).append(toggle);

  const detail = document.createElement('tr');
  detail.className = 'detail';
  detail.hidden = true;
  const td = document.createElement('td');
  td.colSpan = 5;
  const area = document.createElement('textarea');
  area.spellcheck = false;
  area.rows = 16;
  area.dataset.testid = 'pipeline-yaml';
  area.setAttribute('aria-label', `YAML of the pipeline ${name}`);
  const save = document.createElement('button');
  save.type = 'button';
  save.className = 'primary';
  save.textContent = 'Save';
  save.dataset.testid = 'pipeline-save';
  const reload = document.createElement('button');
  reload.type = 'button';
  reload.textContent = 'Reload';
  reload.dataset.testid = 'pipeline-reload';
  const buttons = document.createElement('div');
  buttons.className = 'buttons';
  buttons.append(save, reload);
  const msg = document.createElement('pre');
  msg.className = 'yaml-message';
  msg.dataset.testid = 'pipeline-message';
  msg.setAttribute('role', 'status');
  msg.hidden = true;
  td.append(area, buttons, msg);
  detail.append(td);

  const row = { name, tr, detail, file, state, restarts, error, toggle, area, save, reload, msg, loaded: false };
  toggle.addEventListener('click', () => {
    const open = detail.hidden;
    detail.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    toggle.textContent = open ? 'Hide YAML' : 'View YAML';
    if (open && !row.loaded) loadYAML(row);
  });
  reload.addEventListener('click', () => loadYAML(row));
  save.addEventListener('click', () => saveYAML(row));
  return row;
}

function rowMessage(row, text, kind) {
  row.msg.textContent = text;
  row.msg.dataset.kind = kind || '';
  row.msg.hidden = !text;
}

async function loadYAML(row) {
  rowMessage(row, 'Loading…', 'info');
  try {
    const text = await api.getPipelineYAML(row.name, token());
    row.area.value = typeof text === 'string' ? text : JSON.stringify(text, null, 2);
    row.loaded = true;
    rowMessage(row, '');
  } catch (err) {
    rowMessage(row, `The YAML could not be loaded: ${err.message}`, 'error');
  }
}

async function saveYAML(row) {
  if (!needToken()) return;
  row.save.disabled = true;
  rowMessage(row, 'Saving…', 'info');
  try {
    await api.putPipelineYAML(row.name, row.area.value, token());
    rowMessage(row, 'Saved: the pipeline is reloaded with it.', 'ok');
  } catch (err) {
    if (err.status === 401) tokenRefused(err);
    rowMessage(row, err.message, 'error');
    if (err.status === 422) selectErrorLine(row.area, err.message);
  } finally {
    row.save.disabled = false;
  }
}

/** Selects the line an error such as "live.yaml:12:5: unknown property" points at. */
export function errorLine(message) {
  const m = /:(\d+)(?::(\d+))?:/.exec(message || '');
  return m ? { line: Number(m[1]), col: m[2] ? Number(m[2]) : 1 } : null;
}

function selectErrorLine(area, message) {
  const pos = errorLine(message);
  if (!pos) return;
  const lines = area.value.split('\n');
  if (pos.line < 1 || pos.line > lines.length) return;
  let start = 0;
  for (let i = 0; i < pos.line - 1; i++) start += lines[i].length + 1;
  area.focus();
  area.setSelectionRange(start, start + lines[pos.line - 1].length);
  const lineHeight = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, (pos.line - 3) * lineHeight);
}

function renderPipelines(list) {
  const seen = new Set();
  for (const st of list) {
    seen.add(st.name);
    let row = rows.get(st.name);
    if (!row) {
      row = pipelineRow(st.name);
      rows.set(st.name, row);
    }
    row.file.textContent = st.file ? ` ${st.file}` : '';
    row.state.textContent = st.state || '?';
    row.state.dataset.state = st.state || '';
    const since = st.since ? new Date(st.since) : null;
    row.state.title = since && !Number.isNaN(since.getTime()) ? `since ${since.toLocaleString()} · ${st.frames ?? 0} frames` : '';
    row.restarts.textContent = String(st.restarts ?? 0);
    const err = st.config_error ? `Configuration: ${st.config_error}` : st.last_error || '';
    row.error.textContent = err;
    row.error.title = err;
  }
  for (const [name, row] of rows) {
    if (!seen.has(name)) {
      row.tr.remove();
      row.detail.remove();
      rows.delete(name);
    }
  }
  // Keep the server's order, moving rows only when it changed (moving would blur an editor).
  const want = list.map((st) => st.name);
  const have = Array.from(ui.pipelineRows.querySelectorAll('tr[data-testid="pipeline-row"]')).map((tr) => tr.dataset.name);
  if (want.join('\n') !== have.join('\n')) {
    for (const name of want) {
      const row = rows.get(name);
      ui.pipelineRows.append(row.tr, row.detail);
    }
  }
}

let refreshTimer = 0;
let refreshing = false;

async function refreshPipelines() {
  clearTimeout(refreshTimer);
  if (refreshing) return; // the request on its way sets the next timer
  refreshing = true;
  if (!document.hidden) {
    try {
      const list = await api.listPipelines();
      hooks.pipelines = Array.isArray(list) ? list : [];
      renderPipelines(hooks.pipelines);
      showError(ui.pipelinesError, '');
    } catch (err) {
      showError(ui.pipelinesError, `The pipelines could not be loaded: ${err.message}`);
    }
  }
  refreshing = false;
  refreshTimer = setTimeout(refreshPipelines, REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    refreshPipelines();
    refreshQueue();
  }
});

// --- review queue ---

const answeringReviews = new Set(); // "session/review" keys whose answer is on its way
let queueTimer = 0;
let queueLoading = false;

async function refreshQueue() {
  clearTimeout(queueTimer);
  if (queueLoading) return;
  queueLoading = true;
  if (!document.hidden) {
    if (!token()) {
      hooks.reviews = [];
      renderQueue();
      ui.queueEmpty.textContent = 'Enter the admin token to see the products waiting for an answer.';
    } else {
      try {
        const list = await api.listReviews(token());
        hooks.reviews = Array.isArray(list) ? list : [];
        showError(ui.queueError, '');
        ui.queueEmpty.textContent = 'Nothing waits for an answer.';
        renderQueue();
      } catch (err) {
        showError(ui.queueError, err.status === 401
          ? `The review queue needs the staff or admin token: ${err.message}`
          : `The review queue could not be loaded: ${err.message}`);
      }
    }
  }
  queueLoading = false;
  queueTimer = setTimeout(refreshQueue, REFRESH_MS);
}

function renderQueue() {
  const list = hooks.reviews;
  ui.queueCount.textContent = String(list.length);
  ui.queueEmpty.hidden = list.length > 0;
  const shown = new Set();
  for (const views of Object.values(hooks.views)) for (const v of views) shown.add(api.viewImageURL(v.product_id, v.id));
  ui.queueList.replaceChildren(...list.map((r) => {
    const key = `${r.session}/${r.id}`;
    const li = document.createElement('li');
    li.dataset.testid = 'queue-review';
    li.dataset.session = r.session;
    li.dataset.reviewId = r.id;
    if (r.crop) {
      shown.add(r.crop);
      const crop = tokenImage(r.crop, 'What the camera saw');
      crop.className = 'crop';
      li.append(crop);
    }
    const body = document.createElement('div');
    body.className = 'choices';
    const where = document.createElement('span');
    where.className = 'meta';
    const when = r.created_at ? new Date(r.created_at) : null;
    where.textContent = `${r.station ? `Station ${r.station}` : `Session ${r.session}`}${when && !Number.isNaN(when.getTime()) ? ` · ${when.toLocaleTimeString()}` : ''}`;
    body.append(where);
    const off = answeringReviews.has(key);
    for (const c of r.candidates || []) {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.testid = 'queue-candidate';
      b.dataset.productId = String(c.product_id);
      b.disabled = off;
      if (c.image) {
        const img = document.createElement('img');
        img.src = c.image;
        img.alt = '';
        img.addEventListener('error', () => img.remove());
        b.append(img);
      }
      const name = document.createElement('span');
      name.textContent = `${c.product}${typeof c.score === 'number' ? ` (${c.score.toFixed(2)})` : ''}`;
      b.append(name);
      b.addEventListener('click', () => answerQueued(r, { product_id: c.product_id }));
      body.append(b);
    }
    const none = document.createElement('button');
    none.type = 'button';
    none.textContent = 'None of these';
    none.dataset.testid = 'queue-none';
    none.disabled = off;
    none.addEventListener('click', () => answerQueued(r, { none: true }));
    body.append(none);
    li.append(body);
    return li;
  }));
  releaseBlobs(shown);
}

async function answerQueued(r, answer) {
  if (!needToken()) return;
  const key = `${r.session}/${r.id}`;
  answeringReviews.add(key);
  renderQueue();
  try {
    await api.answerReview(r.session, r.id, answer, token());
    showError(ui.queueError, '');
  } catch (err) {
    if (err.status === 401) tokenRefused(err);
    else showError(ui.queueError, `The answer could not be sent: ${err.message}`);
  } finally {
    answeringReviews.delete(key);
  }
  refreshQueue();
  for (const id of openViews) {
    const li = ui.productList.querySelector(`li[data-testid="product-item"][data-id="${id}"] ul.views`);
    const p = hooks.products.find((x) => x.id === id);
    if (li && p) loadViews(p, li);
  }
}

renderPreviews();
loadStore();
loadProducts();
refreshPipelines();
checkToken();

// --- history: every decision of the cameras, and the purchases ---

let money = api.moneyFormatter({ currency: 'USD', locale: 'en-US' });
let locale = 'en-US';

async function loadStore() {
  try {
    hooks.store = await api.getStore();
    money = api.moneyFormatter(hooks.store);
    locale = hooks.store.locale || locale;
  } catch { /* the defaults */ }
  renderProducts();
}

const historyUI = {
  form: $('history-form'), from: $('history-from'), to: $('history-to'), station: $('history-station'), product: $('history-product'),
  rows: $('count-rows'), countsEmpty: $('counts-empty'), purchases: $('purchase-list'), purchasesEmpty: $('purchases-empty'),
  error: $('history-error'), csv: $('history-csv'), purchasesCSV: $('purchases-csv'),
};
const DECISIONS = { count: 'Counted', ask: 'Asked', unknown: 'Not recognised', cooldown: 'Seen again (not counted)' };

/** "Milk (counted)", "Not recognised (closest: Milk)". */
function describeRecord(r) {
  if (r.decision === 'unknown') return `Not recognised${r.product ? ` (closest: ${r.product})` : ''}`;
  if (r.decision === 'ask') return `Asked${r.product ? ` (best guess: ${r.product})` : ''}`;
  return `${r.product || 'A product'} (${(DECISIONS[r.decision] || r.decision).toLowerCase()})`;
}

/** The filter as a query string. */
function historyQuery() {
  const q = new URLSearchParams();
  if (historyUI.from.value) q.set('from', historyUI.from.value);
  if (historyUI.to.value) q.set('to', historyUI.to.value);
  if (historyUI.station.value) q.set('station', historyUI.station.value);
  if (historyUI.product.value) q.set('product', historyUI.product.value);
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function fillHistoryChoices() {
  const keep = historyUI.product.value;
  historyUI.product.replaceChildren(new Option('Any product', ''), ...hooks.products.map((p) => new Option(p.name, String(p.id))));
  historyUI.product.value = keep;
  let stations = [];
  try {
    stations = (await api.request('GET', '/api/stations', { token: token() })).map((st) => st.station).filter(Boolean);
  } catch { /* no stations listed: the filter still has the self checkouts */ }
  const keepStation = historyUI.station.value;
  historyUI.station.replaceChildren(new Option('Everywhere', ''), new Option('Self checkouts', '-'), ...stations.sort().map((n) => new Option(`Station ${n}`, n)));
  historyUI.station.value = keepStation;
}

async function loadHistory() {
  if (!token() || !hooks.role) return;
  await fillHistoryChoices();
  const q = historyQuery();
  try {
    const [counts, purchases] = await Promise.all([
      api.request('GET', `/api/history/counts${q}`, { token: token() }),
      api.request('GET', `/api/history/purchases${q}`, { token: token() }),
    ]);
    hooks.counts = counts.records || [];
    hooks.purchases = purchases.purchases || [];
    showError(historyUI.error, '');
  } catch (err) {
    showError(historyUI.error, `The history could not be loaded: ${err.message}`);
    return;
  }
  renderHistory();
}

function renderHistory() {
  const when = (t) => new Date(t).toLocaleString(locale);
  historyUI.rows.replaceChildren(...hooks.counts.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'count-row';
    tr.dataset.decision = r.decision;
    const seen = document.createElement('td');
    if (r.crop) {
      const img = tokenImage(r.crop, `What the camera saw${r.product ? ` (${r.product})` : ''}`);
      img.className = 'history-crop';
      img.dataset.testid = 'count-crop';
      seen.append(img);
    }
    const cells = [
      when(r.created_at),
      r.station ? `Station ${r.station}` : `Checkout ${r.session_id.slice(-6)}`,
      r.decision === 'unknown' ? (r.product ? `closest: ${r.product}` : '—') : (r.product || '—'),
      r.score ? r.score.toFixed(2) : '',
      DECISIONS[r.decision] || r.decision,
    ].map((text) => {
      const td = document.createElement('td');
      td.textContent = text;
      return td;
    });
    cells[2].dataset.testid = 'count-product';
    tr.append(seen, ...cells);
    return tr;
  }));
  historyUI.countsEmpty.hidden = hooks.counts.length > 0;
  historyUI.purchases.replaceChildren(...hooks.purchases.map((p) => {
    const li = document.createElement('li');
    li.dataset.testid = 'purchase-item';
    const head = document.createElement('p');
    const strong = document.createElement('strong');
    strong.textContent = `#${p.id}`;
    const total = document.createElement('span');
    total.className = 'total-cell';
    total.dataset.testid = 'purchase-total';
    total.textContent = money(p.total_cents) + (p.unpriced ? ` + ${p.unpriced} unpriced` : '');
    head.append(strong, ` ${when(p.created_at)} · `, total);
    const lines = document.createElement('ul');
    for (const it of p.items) {
      const l = document.createElement('li');
      l.textContent = `${it.quantity} × ${it.product}${it.line_cents != null ? ` — ${money(it.line_cents)}` : ''}`;
      lines.append(l);
    }
    li.append(head, lines);
    return li;
  }));
  historyUI.purchasesEmpty.hidden = hooks.purchases.length > 0;
}

/** Downloads a CSV export (it needs the token, so it is fetched, then saved). */
async function exportCSV(path, name) {
  try {
    const url = await api.imageBlobURL(`${path}${historyQuery()}`, token());
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showError(historyUI.error, `The export failed: ${err.message}`);
  }
}

historyUI.form.addEventListener('submit', (e) => {
  e.preventDefault();
  loadHistory();
});
historyUI.csv.addEventListener('click', () => exportCSV('/api/history/counts.csv', 'ebrcs-counts.csv'));
historyUI.purchasesCSV.addEventListener('click', () => exportCSV('/api/history/purchases.csv', 'ebrcs-purchases.csv'));

// --- stations and live checkouts: a store monitor ---

const monitorUI = { grid: $('monitor-grid'), empty: $('monitor-empty'), error: $('monitor-error'), count: $('monitor-count') };
const viewers = new Map(); // session id → {card, viewer}
let monitorTimer = 0;

/** The monitor's tiles: stations (with their pipeline's state) and sessions with a live camera. */
async function loadMonitor() {
  const t = token();
  const [stations, peers, recent] = await Promise.all([
    api.request('GET', '/api/stations', { token: t }),
    api.request('GET', '/api/webrtc/peers', { token: t }).catch(() => []),
    api.request('GET', '/api/history/counts?limit=200', { token: t }).catch(() => ({ records: [] })),
  ]);
  const last = new Map();
  for (const r of recent.records || []) if (!last.has(r.session_id)) last.set(r.session_id, r);
  const states = new Map(hooks.pipelines.map((p) => [p.name, p]));
  const tiles = (stations || []).map((st) => {
    const p = states.get(st.station) || {};
    return { id: st.id, title: `Station ${st.station}`, kind: 'station', state: p.state || 'unknown', restarts: p.restarts || 0,
      error: p.last_error || '', cart: st.cart, last: last.get(st.id) };
  });
  const live = (peers || []).filter((p) => p.session && !p.session.startsWith('st_'));
  const carts = await Promise.all(live.map((p) => api.request('GET', `/api/sessions/${encodeURIComponent(p.session)}/cart`, { token: t }).catch(() => null)));
  live.forEach((p, i) => {
    tiles.push({ id: p.session, title: `Checkout ${p.session.slice(-6)}`, kind: 'checkout', state: p.state === 'connected' ? 'running' : p.state,
      restarts: 0, error: '', cart: carts[i], last: last.get(p.session), since: p.started });
  });
  return tiles;
}

async function refreshMonitor() {
  clearTimeout(monitorTimer);
  if (!hooks.role || !token()) {
    for (const id of [...viewers.keys()]) dropTile(id);
    return;
  }
  if (!document.hidden) {
    try {
      hooks.monitor = await loadMonitor();
      showError(monitorUI.error, '');
      renderMonitor();
    } catch (err) {
      showError(monitorUI.error, `The stations could not be loaded: ${err.message}`);
    }
  }
  monitorTimer = setTimeout(refreshMonitor, REFRESH_MS);
}

function dropTile(id) {
  const v = viewers.get(id);
  if (!v) return;
  v.viewer.close();
  v.card.remove();
  viewers.delete(id);
}

function renderMonitor() {
  const seen = new Set(hooks.monitor.map((t) => t.id));
  for (const id of [...viewers.keys()]) if (!seen.has(id)) dropTile(id);
  for (const tile of hooks.monitor) {
    let v = viewers.get(tile.id);
    if (!v) {
      const card = document.createElement('li');
      card.className = 'monitor-tile';
      card.dataset.testid = 'monitor-tile';
      card.dataset.session = tile.id;
      card.dataset.kind = tile.kind;
      const h = document.createElement('h3');
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      video.dataset.testid = 'monitor-video';
      video.setAttribute('aria-label', `${tile.title}: annotated video`);
      const status = document.createElement('p');
      status.className = 'meta tile-state';
      const cart = document.createElement('p');
      cart.className = 'tile-cart';
      cart.dataset.testid = 'monitor-cart';
      const lastCount = document.createElement('p');
      lastCount.className = 'meta';
      lastCount.dataset.testid = 'monitor-last';
      card.append(h, video, status, cart, lastCount);
      if (tile.kind === 'station') card.append(areaControl(tile));
      monitorUI.grid.append(card);
      const viewer = new WhepViewer(video, token());
      v = { card, viewer, h, status, cart, lastCount, video, started: false };
      viewers.set(tile.id, v);
    }
    v.h.textContent = tile.title;
    const badge = document.createElement('span');
    badge.className = 'badge small';
    badge.dataset.state = tile.state;
    badge.textContent = tile.state;
    v.status.replaceChildren(badge, ` ${tile.restarts} restart${tile.restarts === 1 ? '' : 's'}${tile.error ? ` · ${tile.error}` : ''}`);
    const items = (tile.cart && tile.cart.items) || [];
    const n = items.reduce((k, i) => k + i.quantity, 0);
    const waiting = ((tile.cart && tile.cart.pending) || []).length;
    v.cart.textContent = n ? `${n} item${n === 1 ? '' : 's'}: ${items.map((i) => `${i.quantity} × ${i.product}`).join(', ')}` : 'Cart empty';
    if (waiting) v.cart.textContent += ` · ${waiting} waiting for an answer`;
    if (tile.cart && tile.cart.confirmed) v.cart.textContent += ' · confirmed';
    const l = tile.last;
    v.lastCount.textContent = l ? `Last: ${describeRecord(l)} at ${new Date(l.created_at).toLocaleTimeString(locale)}` : 'Nothing counted yet';
    if (!v.started && tile.state === 'running') {
      v.started = true;
      v.viewer.token = token();
      v.viewer.start(tile.id).catch((err) => {
        v.started = false; // tried again at the next refresh
        v.lastCount.textContent = `Video: ${err.message}`;
      });
    }
  }
  monitorUI.empty.hidden = hooks.monitor.length > 0;
  monitorUI.count.textContent = String(hooks.monitor.length);
}

window.addEventListener('pagehide', () => {
  for (const id of [...viewers.keys()]) dropTile(id);
});

/** A station's counting area, set from its tile while its video plays (staff). */
function areaControl(tile) {
  const form = document.createElement('form');
  form.className = 'row tile-area';
  const id = `area-${tile.id}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = 'Counting area';
  label.className = 'visually-hidden';
  const select = document.createElement('select');
  select.id = id;
  select.dataset.testid = 'monitor-area';
  select.append(new Option('Counting area…', ''), ...Object.keys(AREAS).map((k) => new Option(AREA_NAMES[k], k)));
  const set = document.createElement('button');
  set.type = 'submit';
  set.textContent = 'Set area';
  set.dataset.testid = 'monitor-area-set';
  const msg = document.createElement('p');
  msg.className = 'meta';
  msg.setAttribute('role', 'status');
  form.append(label, select, set, msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const area = AREAS[select.value];
    if (area === undefined) return;
    const path = `/api/sessions/${encodeURIComponent(tile.id)}/roi`;
    try {
      if (area === '') await api.request('DELETE', path, { token: token() });
      else await api.request('PUT', path, { json: { points: area.split(';').map((p) => p.split(',').map(Number)) }, token: token() });
      msg.textContent = `Area set: ${AREA_NAMES[select.value].toLowerCase()}.`;
    } catch (err) {
      msg.textContent = `The area could not be set: ${err.message}`;
    }
  });
  return form;
}

// --- camera stations from a form: it writes the pipeline file (POST /api/pipelines/{name}) ---

const AREAS = {
  centre: '0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95',
  lower: '0,0.5;1,0.5;1,1;0,1',
  left: '0,0;0.5,0;0.5,1;0,1',
  right: '0.5,0;1,0;1,1;0.5,1',
  whole: '',
};
const AREA_NAMES = { centre: 'Centre', lower: 'Lower half', left: 'Left half', right: 'Right half', whole: 'Whole frame' };
const stationUI = {
  form: $('station-form'), name: $('st-name'), url: $('st-url'), user: $('st-user'), password: $('st-password'),
  transport: $('st-transport'), area: $('st-area'), whep: $('st-whep'), yaml: $('st-yaml'), error: $('station-error'), ok: $('station-ok'),
  snapshot: $('st-snapshot'), snapshotError: $('st-snapshot-error'), stage: $('st-stage'), img: $('st-snapshot-img'),
  canvas: $('st-area-canvas'), tools: $('st-area-tools'), undo: $('st-area-undo'), clear: $('st-area-clear'), status: $('st-area-status'),
  drawnOption: document.querySelector('#st-area option[value="drawn"]'),
};
/** The snapshot's errors go next to the field the server names. */
const STATION_FIELD_ERRORS = { url: 'st-url-error', username: 'st-user-error', password: 'st-password-error' };
const STATION_FIELD_INPUTS = { url: stationUI.url, username: stationUI.user, password: stationUI.password };

/** "x,y;x,y;..." (the roigate's roi property, as the presets) ⇄ [[x, y], ...]. */
const roiText = (points) => points.map((p) => `${p[0]},${p[1]}`).join(';');
const roiPoints = (text) => (text ? text.split(';').map((p) => p.split(',').map(Number)) : []);

// The counting area on the camera's snapshot: presets are shown on it (a click starts a drawing
// of one's own), corners are added by clicking or tapping and dragged by their handles.
let showingPreset = false;
let lastDrawn = []; // the area drawn, shown again when "Drawn on the snapshot" is picked back
const stationArea = new RoiEditor(stationUI.canvas, stationUI.img, {
  drag: true,
  onChange: (points) => {
    if (showingPreset) return;
    lastDrawn = points;
    stationUI.drawnOption.disabled = false;
    stationUI.area.value = 'drawn';
    showAreaStatus();
    previewStation();
  },
});
hooks.stationArea = () => ({ area: stationUI.area.value, points: stationArea.draft.map((p) => [p[0], p[1]]) });

function showPresetOnSnapshot() {
  const drawn = stationUI.area.value === 'drawn';
  showingPreset = true;
  stationArea.setDraft(drawn ? lastDrawn : roiPoints(AREAS[stationUI.area.value]), { replace: !drawn });
  showingPreset = false;
  showAreaStatus();
}

function showAreaStatus() {
  const n = stationArea.draft.length;
  let text;
  if (stationUI.area.value !== 'drawn') {
    text = `Counting area: ${AREA_NAMES[stationUI.area.value].toLowerCase()}.${stationUI.stage.hidden ? '' : ' Click or tap the snapshot to draw your own.'}`;
  } else if (n < 3) {
    text = `${n} corner${n === 1 ? '' : 's'} drawn: add at least ${3 - n} more, or pick a preset.`;
  } else {
    text = `Counting area drawn on the snapshot: ${n} corners.`;
  }
  stationUI.status.textContent = text;
}

function clearSnapshotErrors() {
  for (const id of Object.values(STATION_FIELD_ERRORS)) showError($(id), '');
  showError(stationUI.snapshotError, '');
}

stationUI.area.addEventListener('change', showPresetOnSnapshot);
stationUI.undo.addEventListener('click', () => stationArea.undo());
stationUI.clear.addEventListener('click', () => stationArea.reset());
for (const input of [stationUI.url, stationUI.user, stationUI.password]) {
  input.addEventListener('input', clearSnapshotErrors);
}

let snapshotURL = '';
stationUI.snapshot.addEventListener('click', async () => {
  clearSnapshotErrors();
  const f = stationFields();
  if (!/^rtsps?:\/\/./i.test(f.url)) {
    showError($('st-url-error'), 'Camera address: an rtsp:// URL, such as rtsp://192.168.1.64:554/stream1.');
    stationUI.url.focus();
    return;
  }
  if (!needToken()) return;
  stationUI.snapshot.disabled = true;
  stationUI.snapshot.textContent = 'Taking snapshot…';
  stationUI.status.textContent = 'Asking the camera for a picture…';
  try {
    const url = await api.cameraSnapshot({ url: f.url, username: f.user, password: f.password, transport: f.transport === 'auto' ? '' : f.transport }, token());
    await new Promise((resolve, reject) => {
      stationUI.img.onload = resolve;
      stationUI.img.onerror = () => reject(new Error('The camera’s picture could not be shown.'));
      stationUI.img.src = url;
    });
    if (snapshotURL) URL.revokeObjectURL(snapshotURL);
    snapshotURL = url;
    const { naturalWidth: w, naturalHeight: h } = stationUI.img;
    stationUI.stage.style.aspectRatio = `${w} / ${h}`;
    stationUI.stage.hidden = false;
    stationUI.tools.hidden = false;
    hooks.stationSnapshot = { width: w, height: h };
    stationArea.redraw();
    showPresetOnSnapshot();
    showAreaStatus();
  } catch (err) {
    if (err.status === 401 || err.status === 403) tokenRefused(err);
    const id = STATION_FIELD_ERRORS[err.field];
    showError(id ? $(id) : stationUI.snapshotError, `Snapshot: ${err.message}`);
    if (id) STATION_FIELD_INPUTS[err.field].focus();
    showAreaStatus();
  } finally {
    stationUI.snapshot.disabled = false;
    stationUI.snapshot.textContent = stationUI.stage.hidden ? 'Take snapshot' : 'Take another snapshot';
  }
});

/** stationYAML(fields, {hidePassword}) → the station's pipeline file. Strings are JSON-quoted: valid YAML. */
function stationYAML(f, { hidePassword = false } = {}) {
  const q = (v) => JSON.stringify(v);
  const lines = [
    `name: ${q(f.name)}`,
    'description: "Camera station (added with the back office form)"',
    'source:',
    '  type: rtsp',
    `  url: ${q(f.url)}`,
  ];
  if (f.user) lines.push(`  user: ${q(f.user)}`);
  if (f.password) lines.push(`  password: ${hidePassword ? '"••••••"' : q(f.password)}`);
  lines.push(`  transport: ${f.transport}`, '  latency_ms: 200', '  silence_timeout: 5s',
    'restart: {initial_backoff: 500ms, max_backoff: 30s}',
    'elements:',
    '  - element: videoconvert',
    '  - caps: video/x-raw,format=I420',
    '  - element: ebrcs_bgsub',
    '    properties: {foreground-slowdown: 10}',
    '  - element: ebrcs_roigate');
  const roi = f.area === 'drawn' ? f.roi : AREAS[f.area] || '';
  lines.push(roi ? `    properties: {roi: ${q(roi)}, pad: 0, entry-burst: 4}` : '    properties: {pad: 0, entry-burst: 4}',
    '  - element: ebrcs_embed',
    '  - element: ebrcs_match',
    '  - element: ebrcs_counter');
  if (f.whep) lines.push('  - element: ebrcs_overlay', 'sink:', '  type: whep', '  bitrate: 1500');
  else lines.push('sink:', '  type: fake');
  return `${lines.join('\n')}\n`;
}

function stationFields() {
  return {
    name: stationUI.name.value.trim(), url: stationUI.url.value.trim(), user: stationUI.user.value.trim(),
    password: stationUI.password.value, transport: stationUI.transport.value, area: stationUI.area.value, whep: stationUI.whep.checked,
    roi: roiText(stationArea.draft),
  };
}

function previewStation() {
  stationUI.yaml.textContent = stationYAML(stationFields(), { hidePassword: true });
}

stationUI.form.addEventListener('input', previewStation);
stationUI.form.addEventListener('change', previewStation);
stationUI.form.addEventListener('submit', async (e) => {
  e.preventDefault();
  showError(stationUI.error, '');
  stationUI.ok.hidden = true;
  const f = stationFields();
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(f.name)) {
    showError(stationUI.error, 'Name: use a-z, 0-9, - and _, starting with a letter or digit.');
    stationUI.name.focus();
    return;
  }
  if (!/^rtsps?:\/\/./i.test(f.url)) {
    showError(stationUI.error, 'Camera address: an rtsp:// URL, such as rtsp://192.168.1.64:554/stream1.');
    stationUI.url.focus();
    return;
  }
  if (f.area === 'drawn' && stationArea.draft.length < 3) {
    showError(stationUI.error, 'Counting area: draw at least 3 corners on the snapshot, or pick a preset.');
    stationUI.area.focus();
    return;
  }
  if (!needToken()) return;
  try {
    await api.request('POST', `/api/pipelines/${encodeURIComponent(f.name)}`, {
      body: stationYAML(f), token: token(), headers: { 'Content-Type': 'application/yaml' },
    });
    stationUI.ok.textContent = `Station ${f.name} added: it starts now, and shows in the monitor once its camera answers.`;
    stationUI.ok.hidden = false;
    stationUI.password.value = '';
    refreshPipelines();
    refreshMonitor();
  } catch (err) {
    if (err.status === 401 || err.status === 403) tokenRefused(err);
    showError(stationUI.error, err.message);
  }
});
previewStation();
showAreaStatus();
