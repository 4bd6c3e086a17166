// The admin page: register products (photos from files or the camera), list and delete them
// and their learned views, answer the review queue, and watch and edit the pipelines.

import * as api from './api.js';

const TOKEN_KEY = 'ebrcs.adminToken';
const MAX_IMAGES = 3;
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
const ui = {
  token: $('token'), tokenShow: $('token-show'), tokenError: $('token-error'),
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
const hooks = { products: [], pipelines: [], reviews: [], views: {} };
window.ebrcsAdmin = hooks;

// --- token ---

function loadToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

function token() {
  return ui.token.value.trim();
}

ui.token.value = loadToken();
ui.token.addEventListener('input', () => {
  try { localStorage.setItem(TOKEN_KEY, token()); } catch { /* storage disabled: kept for this page only */ }
  showError(ui.tokenError, '');
  clearTimeout(queueTimer);
  queueTimer = setTimeout(refreshQueue, 300); // the queue needs the token: load it once typed
});
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
  showError(ui.tokenError, 'Enter the admin token first (the server writes it to its log when it starts).');
  ui.token.focus();
  return false;
}

function tokenRefused(err) {
  showError(ui.tokenError, `${err.message}: the token is missing or wrong. The server writes it to its log when it starts.`);
}

// --- errors next to fields ---

function showError(el, text) {
  el.textContent = text;
  el.hidden = !text;
  const input = el.id && document.querySelector(`[aria-describedby~="${el.id}"]`);
  if (input) {
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

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
      img.src = api.productImageURL(p.id, 1);
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
    bits.push(p.price_cents != null ? api.formatPrice(p.price_cents) : 'no price');
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
    li.append(thumb, info, toggle, del, views);
    if (openViews.has(p.id)) loadViews(p, views);
    return li;
  }));
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
          ? 'The review queue needs the admin token: it is missing or wrong.'
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
loadProducts();
refreshPipelines();
refreshQueue();
