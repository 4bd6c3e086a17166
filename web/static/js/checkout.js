// The checkout page: the camera goes to the server over WHIP, the annotated video comes back
// on the same connection, and the cart follows the session's event stream.

import * as api from './api.js';
import { WhipClient } from './whip.js';
import { RoiEditor } from './roi.js';

const PIPELINE = 'live'; // the checkout pipeline
const LOG_SIZE = 20; // events shown
const KEEP_EVENTS = 500; // events kept in window.ebrcs.events
const MAX_RECONNECTS = 5;
const DISCONNECTED_GRACE_MS = 4000; // 'disconnected' this long is treated as failed
const SESSION_EVENTS = ['count', 'cooldown', 'unknown', 'review', 'roi', 'cart', 'confirmed', 'roi_set', 'closed'];

const $ = (id) => document.getElementById(id);
const ui = {
  start: $('start'), stop: $('stop'), conn: $('conn-state'), message: $('message'),
  video: $('video'), canvas: $('roi-canvas'), hint: $('video-hint'),
  roiSave: $('roi-save'), roiClear: $('roi-clear'), roiReset: $('roi-reset'), roiStatus: $('roi-status'),
  uploadInput: $('upload-input'), uploadState: $('upload-state'), uploadProgress: $('upload-progress'), uploadLabel: $('upload-label'),
  sessionLabel: $('session-label'), cartList: $('cart-list'), cartEmpty: $('cart-empty'),
  reviews: $('reviews'), reviewList: $('review-list'),
  addForm: $('add-form'), addProduct: $('add-product'), addButton: $('add-button'),
  total: $('cart-total'), price: $('cart-price'), confirm: $('confirm'), receipt: $('receipt'), newCheckout: $('new-checkout'),
  eventsState: $('events-state'), log: $('event-log'),
};

/**
 * Hooks for automated browser tests, kept up to date:
 * state: idle | starting | connecting | live | reconnecting | ended | error;
 * sessionId; cart (the last cart JSON, its pending reviews included); events (every session
 * event received, oldest first);
 * eventsState: idle | connecting | open | reconnecting | closed; roi (the session's ROI or null);
 * task (the last upload task, its last known view); error (the last message shown).
 */
const hooks = {
  state: 'idle', sessionId: null, cart: null, events: [], eventsState: 'idle', roi: null, task: null, error: null,
};
window.ebrcs = hooks;

let whip = null;
let localStream = null;
let events = null; // the session's EventSource
let lastSeq = 0; // the last event seen in this session (the stream resumes, duplicates are dropped)
let sessionClosed = false; // the server ended the session
let ownSession = false; // this page created the session (and deletes it when it goes away)
let busy = false; // a cart request is on its way
const answering = new Set(); // ids of the reviews whose answer is on its way
let reconnects = 0;
let reconnectTimer = 0;
let disconnectTimer = 0;
let products = []; // the catalog, for prices and adding by hand

const roi = new RoiEditor(ui.canvas, ui.video, { onChange: () => renderROI() });

// --- messages and state ---

function showMessage(text, kind = 'error') {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
  ui.message.hidden = !text;
  if (kind === 'error') hooks.error = text;
}

function clearMessage() {
  showMessage('', 'info');
}

const STATE_LABELS = {
  idle: 'Not started', starting: 'Starting camera…', connecting: 'Connecting…', live: 'Live',
  reconnecting: 'Reconnecting…', ended: 'Ended', error: 'Not connected',
};
const STATE_HINTS = {
  idle: 'Press “Start camera” and hold products in front of it.',
  starting: 'Waiting for the camera… allow it if the browser asks.',
  connecting: 'Connecting to the server…',
  live: '',
  reconnecting: 'The connection was lost: reconnecting…',
  ended: 'Stopped. Press “Start camera” to go on.',
  error: 'Press “Start camera” to try again, or upload a video below.',
};

function setState(state) {
  hooks.state = state;
  ui.conn.textContent = STATE_LABELS[state] || state;
  ui.conn.dataset.state = state;
  const running = ['starting', 'connecting', 'live', 'reconnecting'].includes(state);
  ui.start.hidden = running;
  ui.start.disabled = running;
  ui.stop.hidden = !running;
  const hint = STATE_HINTS[state] ?? '';
  ui.hint.textContent = hint;
  ui.hint.hidden = !hint;
}

function setEventsState(state) {
  hooks.eventsState = state;
  ui.eventsState.dataset.state = state;
  ui.eventsState.textContent = {
    idle: 'not connected', connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…', closed: 'closed',
  }[state] || state;
}

// --- camera and WHIP ---

function cameraError(err) {
  const https = 'Browsers only allow the camera on https:// pages or on http://localhost.';
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Camera access was refused. Allow the camera for this site (the camera icon in the address bar or the browser's site settings) and press “Start camera” again. ${https}`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No usable camera was found. Connect a camera, or upload a video below.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera could not be started: another application may be using it.';
    default:
      return `The camera could not be started (${err && err.message ? err.message : err}). ${https}`;
  }
}

async function start() {
  clearMessage();
  if (sessionClosed || (hooks.cart && hooks.cart.confirmed)) resetCheckout();
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    setState('error');
    showMessage(`This page cannot use the camera: it is not a secure page (${location.origin}). Browsers only allow the camera on https:// pages or on http://localhost. Open the page that way, or upload a video below.`);
    return;
  }
  setState('starting');
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: 30 }, audio: false });
  } catch (err) {
    setState('error');
    showMessage(cameraError(err));
    return;
  }
  for (const t of localStream.getVideoTracks()) {
    t.addEventListener('ended', () => {
      if (localStream && localStream.getTracks().includes(t)) {
        stop();
        showMessage('The camera stopped (it was disconnected or its permission was withdrawn).');
      }
    });
  }
  reconnects = 0;
  try {
    // The page creates the session itself rather than letting WHIP make one: a session made
    // by WHIP ends with its connection, and the cart must outlive a reconnection or a Stop.
    await ensureSession();
  } catch (err) {
    stopCamera();
    setState('error');
    showMessage(`Could not start a checkout session: ${err.message}`);
    return;
  }
  await connect();
}

async function connect() {
  clearTimeout(reconnectTimer);
  if (!localStream) return;
  setState(reconnects ? 'reconnecting' : 'connecting');
  const client = new WhipClient({ onState: (s) => onPeerState(client, s), onTrack: (_t, stream) => showRemote(stream) });
  whip = client;
  try {
    let res;
    try {
      res = await client.connect(PIPELINE, localStream, { session: hooks.sessionId || undefined });
    } catch (err) {
      // The session to join is gone (expired or closed): start a new one.
      if (hooks.sessionId && whip === client && err.status === 404 && err.field === 'session') {
        forgetSession();
        await ensureSession();
        res = await client.connect(PIPELINE, localStream, { session: hooks.sessionId });
      } else {
        throw err;
      }
    }
    if (whip !== client) return; // stopped meanwhile
    showRemote(res.remoteStream);
    if (res.sessionId && res.sessionId !== hooks.sessionId) attachSession(res.sessionId);
    if (res.pc.connectionState === 'connected') onPeerState(client, 'connected');
  } catch (err) {
    if (whip !== client) return;
    whip = null;
    if (reconnects > 0 && (!err.status || err.status >= 500)) {
      scheduleReconnect();
      return;
    }
    stopCamera();
    setState('error');
    showMessage(`Could not connect to the server: ${err.message}`);
  }
}

function showRemote(stream) {
  if (ui.video.srcObject !== stream) ui.video.srcObject = stream;
  ui.video.play().catch(() => { /* autoplay of a muted video is allowed; retried on the next track */ });
}

function onPeerState(client, state) {
  if (client !== whip) return;
  clearTimeout(disconnectTimer);
  switch (state) {
    case 'connected':
      reconnects = 0;
      setState('live');
      break;
    case 'disconnected':
      // ICE often recovers by itself; give it a moment before starting over.
      setState('reconnecting');
      disconnectTimer = setTimeout(() => { if (client === whip) scheduleReconnect(); }, DISCONNECTED_GRACE_MS);
      break;
    case 'failed':
      scheduleReconnect();
      break;
    default:
      break;
  }
}

function scheduleReconnect() {
  const old = whip;
  whip = null;
  if (old) old.close();
  if (!localStream || sessionClosed) return;
  if (reconnects >= MAX_RECONNECTS) {
    stopCamera();
    setState('ended');
    showMessage('The connection to the server was lost. Press “Start camera” to try again.');
    return;
  }
  reconnects++;
  setState('reconnecting');
  const delay = Math.min(1000 * 2 ** (reconnects - 1), 10000);
  reconnectTimer = setTimeout(connect, delay);
}

function stopCamera() {
  if (localStream) for (const t of localStream.getTracks()) t.stop();
  localStream = null;
}

/** Stops streaming: DELETE the WHIP resource, close the connection, release the camera. */
function stop() {
  clearTimeout(reconnectTimer);
  clearTimeout(disconnectTimer);
  const old = whip;
  whip = null;
  if (old) old.close();
  stopCamera();
  ui.video.srcObject = null;
  setState('ended');
}

// --- the session ---

function attachSession(id, view, own = false) {
  if (hooks.sessionId !== id) {
    ownSession = own;
    hooks.sessionId = id;
    hooks.cart = null;
    hooks.roi = null;
    lastSeq = 0;
    sessionClosed = false;
  }
  ui.sessionLabel.textContent = id ? `· ${id}` : '';
  openEvents(id);
  if (view) applySession(view);
  else loadSession();
  renderAll();
}

/** The session to use: the current one, or a new one made now. */
async function ensureSession() {
  if (sessionClosed) forgetSession();
  if (!hooks.sessionId) {
    const s = await api.createSession();
    attachSession(s.id, s, true);
  }
  return hooks.sessionId;
}

function forgetSession() {
  ownSession = false;
  if (events) events.close();
  events = null;
  hooks.sessionId = null;
  hooks.cart = null;
  hooks.roi = null;
  lastSeq = 0;
  sessionClosed = false;
  roi.setSaved(null);
  ui.sessionLabel.textContent = '';
  setEventsState('idle');
  renderAll();
}

async function loadSession() {
  const id = hooks.sessionId;
  try {
    const s = await api.getSession(id);
    if (hooks.sessionId === id) applySession(s);
  } catch (err) {
    if (hooks.sessionId !== id) return;
    if (err.status === 404) sessionEnded();
    else showMessage(`Could not load the session: ${err.message}`);
  }
}

function applySession(s) {
  setROI(s.roi || null);
  if (s.cart) applyCart(s.cart);
}

function setROI(points) {
  hooks.roi = points && points.length ? points : null;
  roi.setSaved(hooks.roi);
  renderROI();
}

function sessionEnded() {
  sessionClosed = true;
  if (events) events.close();
  events = null;
  setEventsState('closed');
  if (whip || localStream) stop();
  showMessage('This checkout session has ended (closed or expired). Press “Start camera” to begin a new one.', 'info');
  renderAll();
}

/** New checkout: the old session (its purchase is stored) is closed and everything reset. */
function resetCheckout() {
  const old = hooks.sessionId;
  if (whip || localStream) stop();
  forgetSession();
  if (old) api.deleteSession(old).catch(() => {});
  ui.log.replaceChildren();
  hooks.events = [];
  ui.uploadState.hidden = true;
  ui.receipt.hidden = true;
  roi.reset();
  clearMessage();
  setState('idle');
  renderAll();
}

// --- events ---

function openEvents(id) {
  if (events) events.close();
  setEventsState('connecting');
  const es = new EventSource(api.sessionEventsURL(id));
  events = es;
  let opened = false;
  es.addEventListener('open', () => {
    if (events !== es) return;
    setEventsState('open');
    // After a reconnection, catch up on anything the stream could not replay.
    if (opened) refreshCart();
    opened = true;
  });
  es.addEventListener('error', () => {
    if (events !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      setEventsState('closed');
      events = null;
      // Refused outright: find out whether the session still exists.
      if (!sessionClosed) loadSession();
    } else {
      setEventsState('reconnecting');
    }
  });
  for (const type of SESSION_EVENTS) {
    es.addEventListener(type, (m) => {
      if (events !== es) return;
      let e;
      try { e = JSON.parse(m.data); } catch { return; }
      if (!e.type) e.type = type;
      onEvent(e);
    });
  }
}

function onEvent(e) {
  if (typeof e.seq === 'number') {
    if (e.seq <= lastSeq) return; // already seen (a resumed stream)
    lastSeq = e.seq;
  }
  hooks.events.push(e);
  if (hooks.events.length > KEEP_EVENTS) hooks.events.splice(0, hooks.events.length - KEEP_EVENTS);
  logEvent(e);
  switch (e.type) {
    case 'count':
    case 'review':
    case 'cart':
    case 'confirmed':
      if (e.cart) applyCart(e.cart);
      else refreshCart();
      break;
    case 'roi_set':
      setROI(e.roi || null);
      break;
    case 'closed':
      sessionEnded();
      break;
    default:
      break;
  }
}

const ROI_STATUS = {
  empty: 'Checkout area empty',
  outside: 'Object outside the checkout area',
  entered: 'Object entered the checkout area',
  inside: 'Object inside the checkout area',
};

/** describe(event) → a line for people: "Milk added (0.83)". */
export function describe(e) {
  const score = typeof e.score === 'number' && e.score > 0 ? ` (${e.score.toFixed(2)})` : '';
  switch (e.type) {
    case 'count':
      return `${e.product || 'A product'} added${score}${e.quantity > 1 ? `, ${e.quantity} in the cart` : ''}`;
    case 'cooldown':
      return `${e.product || 'A product'} seen again within cooldown${typeof e.since_last === 'number' ? ` (${e.since_last.toFixed(1)} s after it was counted)` : ''}`;
    case 'unknown':
      return `Unknown object${e.product ? ` (closest: ${e.product}${typeof e.score === 'number' && e.score > 0 ? `, ${e.score.toFixed(2)}` : ''})` : ''}`;
    case 'review': {
      const first = e.review && e.review.candidates && e.review.candidates[0];
      return `Not sure which product this is: please answer${first ? ` (closest: ${first.product})` : ''}`;
    }
    case 'roi':
      return ROI_STATUS[e.status] || `Checkout area: ${e.status || '?'}`;
    case 'cart':
      return 'Cart edited';
    case 'confirmed':
      return 'Purchase confirmed';
    case 'roi_set':
      return e.roi && e.roi.length ? `Checkout area set (${e.roi.length} points)` : 'Checkout area cleared (whole frame)';
    case 'closed':
      return 'Session ended';
    default:
      return e.type || 'event';
  }
}

function logEvent(e) {
  const li = document.createElement('li');
  li.dataset.type = e.type;
  const time = document.createElement('time');
  const t = e.time ? new Date(e.time) : new Date();
  if (!Number.isNaN(t.getTime())) {
    time.dateTime = t.toISOString();
    time.textContent = t.toLocaleTimeString();
  }
  const text = document.createElement('span');
  text.textContent = describe(e);
  li.append(time, ' ', text);
  ui.log.prepend(li);
  while (ui.log.children.length > LOG_SIZE) ui.log.lastElementChild.remove();
}

// --- cart ---

async function refreshCart() {
  const id = hooks.sessionId;
  if (!id) return;
  try {
    const cart = await api.getCart(id);
    if (hooks.sessionId === id) applyCart(cart);
  } catch (err) {
    if (hooks.sessionId !== id) return;
    if (err.status === 404) sessionEnded();
    else showMessage(`Could not load the cart: ${err.message}`);
  }
}

/** Takes a cart unless it is older than the one shown (answers can cross events). */
function applyCart(cart) {
  const cur = hooks.cart;
  if (cur && (cart.version < cur.version || (cart.version === cur.version && cur.confirmed && !cart.confirmed))) return;
  hooks.cart = cart;
  if (cart.items) {
    for (const it of cart.items) {
      if (it.product_id && products.length && !products.some((p) => p.id === it.product_id)) {
        loadProducts(); // a product registered since the page loaded
        break;
      }
    }
  }
  renderCart();
}

function productFor(item) {
  return products.find((p) => (item.product_id && p.id === item.product_id) || p.name.toLowerCase() === String(item.product).toLowerCase());
}

function cartItems() {
  return ((hooks.cart && hooks.cart.items) || []).filter((i) => i.quantity > 0);
}

function canEdit() {
  return Boolean(hooks.sessionId && hooks.cart && !hooks.cart.confirmed && !sessionClosed && !busy);
}

function button(label, testid, aria, onClick, disabled) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.testid = testid;
  b.setAttribute('aria-label', aria);
  b.disabled = disabled;
  b.addEventListener('click', onClick);
  return b;
}

function renderCart() {
  const items = cartItems();
  const editable = canEdit();
  const confirmed = Boolean(hooks.cart && hooks.cart.confirmed);
  ui.cartList.replaceChildren(...items.map((item) => {
    const li = document.createElement('li');
    li.dataset.testid = 'cart-item';
    li.dataset.product = item.product;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = item.product;
    const meta = document.createElement('span');
    meta.className = 'meta';
    const p = productFor(item);
    const parts = [];
    if (p && p.price_cents != null) parts.push(api.formatPrice(p.price_cents * item.quantity));
    if (item.score) parts.push(`score ${item.score.toFixed(2)}`);
    meta.textContent = parts.join(' · ');
    const info = document.createElement('span');
    info.className = 'info';
    info.append(name, meta);
    if (editable && products.length > 1) info.append(replaceSelect(item));
    const qty = document.createElement('span');
    qty.className = 'qty';
    qty.dataset.testid = 'qty';
    qty.textContent = String(item.quantity);
    const controls = document.createElement('span');
    controls.className = 'controls';
    controls.append(
      button('−', 'qty-minus', `One ${item.product} less`, () => setQuantity(item.product, item.quantity - 1), !editable),
      qty,
      button('+', 'qty-plus', `One ${item.product} more`, () => setQuantity(item.product, item.quantity + 1), !editable),
      button('Remove', 'item-remove', `Remove ${item.product}`, () => setQuantity(item.product, 0), !editable),
    );
    if (confirmed) controls.replaceChildren(qty);
    li.append(info, controls);
    return li;
  }));
  ui.cartEmpty.hidden = items.length > 0;
  const count = items.reduce((n, i) => n + i.quantity, 0);
  ui.total.textContent = String(count);
  let cents = 0;
  let priced = items.length > 0;
  for (const i of items) {
    const p = productFor(i);
    if (p && p.price_cents != null) cents += p.price_cents * i.quantity;
    else priced = false;
  }
  ui.price.textContent = items.length && cents ? `Total ${api.formatPrice(cents)}${priced ? '' : ' (some prices unknown)'}` : '';
  const waiting = pendingReviews().length;
  ui.confirm.disabled = !editable || count === 0 || waiting > 0;
  ui.confirm.title = waiting ? 'Answer “Which product is this?” first' : '';
  ui.confirm.hidden = confirmed;
  ui.addForm.hidden = confirmed || products.length === 0;
  ui.addProduct.disabled = !editable;
  ui.addButton.disabled = !editable;
  ui.newCheckout.hidden = !(confirmed || sessionClosed);
  renderReviews();
  renderReceipt();
}

// --- reviews: products the camera was not sure of ---

function pendingReviews() {
  return (hooks.cart && hooks.cart.pending) || [];
}

function renderReviews() {
  const list = sessionClosed ? [] : pendingReviews();
  ui.reviews.hidden = list.length === 0;
  ui.reviewList.replaceChildren(...list.map((r) => {
    const li = document.createElement('li');
    li.dataset.testid = 'review-prompt';
    li.dataset.reviewId = r.id;
    const off = answering.has(r.id) || !canEdit();
    if (r.crop) {
      const crop = document.createElement('img');
      crop.className = 'crop';
      crop.src = r.crop;
      crop.alt = 'What the camera saw';
      crop.dataset.testid = 'review-crop';
      crop.addEventListener('error', () => crop.remove());
      li.append(crop);
    }
    const choices = document.createElement('div');
    choices.className = 'choices';
    for (const c of r.candidates || []) {
      const b = button('', 'review-candidate', `It is ${c.product}`, () => answerReview(r.id, { product_id: c.product_id }), off);
      b.dataset.productId = String(c.product_id);
      if (c.image) {
        const img = document.createElement('img');
        img.src = c.image;
        img.alt = '';
        img.addEventListener('error', () => img.remove());
        b.append(img);
      }
      const name = document.createElement('span');
      name.textContent = c.product;
      b.append(name);
      choices.append(b);
    }
    choices.append(button('None of these', 'review-none', 'None of these products', () => answerReview(r.id, { none: true }), off));
    li.append(choices);
    return li;
  }));
}

/** Answers a review: the product joins the cart (or nothing does), and the catalog learns. */
async function answerReview(reviewId, answer) {
  const id = hooks.sessionId;
  if (!id || answering.has(reviewId)) return;
  answering.add(reviewId);
  renderReviews();
  try {
    const res = await api.answerReview(id, reviewId, answer);
    clearMessage();
    if (hooks.sessionId === id && res && res.cart) applyCart(res.cart);
  } catch (err) {
    if (err.status === 409 || err.status === 404) {
      // Answered meanwhile (another screen, the staff) or the cart is confirmed.
      await refreshCart();
      if (err.status === 404 && !hooks.sessionId) return;
      showMessage(`This question was already answered or has gone: ${err.message}`, 'warning');
    } else {
      showMessage(`The answer could not be sent: ${err.message}`);
    }
  } finally {
    answering.delete(reviewId);
    renderReviews();
  }
}

function renderReceipt() {
  const cart = hooks.cart;
  if (!cart || !cart.confirmed) {
    ui.receipt.hidden = true;
    return;
  }
  const purchase = cart.purchase || {};
  const h = document.createElement('h3');
  h.textContent = 'Thank you!';
  const p = document.createElement('p');
  const when = purchase.created_at ? new Date(purchase.created_at).toLocaleString() : '';
  p.textContent = `Purchase${purchase.id ? ` #${purchase.id}` : ''} confirmed${when ? ` on ${when}` : ''}.`;
  const ul = document.createElement('ul');
  for (const i of purchase.items || cartItems()) {
    const li = document.createElement('li');
    li.textContent = `${i.quantity} × ${i.product}`;
    ul.append(li);
  }
  ui.receipt.replaceChildren(h, p, ul);
  ui.receipt.hidden = false;
}

/**
 * A "Not this?" choice under a cart line: one of it becomes another product, in one edit, so
 * that the server learns from the camera's mistake (its crop becomes a view of the product
 * chosen).
 */
function replaceSelect(item) {
  const select = document.createElement('select');
  select.className = 'replace';
  select.dataset.testid = 'item-replace';
  select.setAttribute('aria-label', `Not ${item.product}? Change one to another product`);
  const options = [new Option('Not this? Change to…', '')];
  for (const p of products) {
    if (p.name.toLowerCase() !== String(item.product).toLowerCase()) options.push(new Option(p.name, p.name));
  }
  select.replaceChildren(...options);
  select.addEventListener('change', () => {
    if (select.value) replaceOne(item.product, select.value);
  });
  return select;
}

async function replaceOne(product, other) {
  await editCart((items) => {
    const it = items.find((i) => i.product.toLowerCase() === product.toLowerCase());
    if (it) it.quantity = Math.max(0, it.quantity - 1);
    const to = items.find((i) => i.product.toLowerCase() === other.toLowerCase());
    if (to) to.quantity += 1;
    else items.push({ product: other, quantity: 1 });
    return items;
  });
}

/** Sends the whole cart with one product's new quantity (0 removes it). */
async function setQuantity(product, quantity) {
  await editCart((items) => {
    const key = product.toLowerCase();
    const it = items.find((i) => i.product.toLowerCase() === key);
    if (it) it.quantity = Math.max(0, quantity);
    else if (quantity > 0) items.push({ product, quantity });
    return items;
  });
}

async function editCart(change) {
  if (!canEdit()) return;
  const id = hooks.sessionId;
  const version = hooks.cart.version;
  const items = change(cartItems().map((i) => ({ product: i.product, quantity: i.quantity })));
  busy = true;
  renderCart();
  try {
    const cart = await api.putCart(id, items, version);
    clearMessage();
    if (hooks.sessionId === id) applyCart(cart);
  } catch (err) {
    if (err.status === 409) {
      await refreshCart();
      showMessage(hooks.cart && hooks.cart.confirmed
        ? 'The purchase is confirmed: the cart can no longer change.'
        : 'The cart changed meanwhile (a product was just counted). It has been reloaded: check it and make your change again.', 'warning');
    } else if (err.status === 404) {
      sessionEnded();
    } else {
      showMessage(`The cart could not be changed: ${err.message}`);
    }
  } finally {
    busy = false;
    renderCart();
  }
}

async function confirmPurchase() {
  if (!canEdit() || cartItems().length === 0) return;
  const id = hooks.sessionId;
  busy = true;
  renderCart();
  try {
    const cart = await api.confirmCart(id);
    clearMessage();
    if (hooks.sessionId === id) applyCart(cart);
    // The checkout is done: stop streaming, nothing more can be counted.
    if (whip || localStream) stop();
    ui.receipt.focus();
  } catch (err) {
    if (err.status === 409) {
      await refreshCart();
      showMessage(`The purchase could not be confirmed: ${err.message}`, 'warning');
    } else {
      showMessage(`The purchase could not be confirmed: ${err.message}`);
    }
  } finally {
    busy = false;
    renderCart();
  }
}

async function loadProducts() {
  try {
    const list = await api.listProducts();
    products = Array.isArray(list) ? list : [];
  } catch {
    products = [];
  }
  const current = ui.addProduct.value;
  const options = [new Option('Choose…', '')];
  for (const p of products) options.push(new Option(p.price_cents != null ? `${p.name} (${api.formatPrice(p.price_cents)})` : p.name, p.name));
  ui.addProduct.replaceChildren(...options);
  ui.addProduct.value = products.some((p) => p.name === current) ? current : '';
  renderCart();
}

// --- ROI ---

function renderROI() {
  const n = roi.draft.length;
  const hasSession = Boolean(hooks.sessionId) && !sessionClosed;
  ui.roiSave.disabled = n < 3;
  ui.roiReset.disabled = n === 0;
  ui.roiClear.disabled = !hasSession || !hooks.roi;
  const saved = hooks.roi ? `${hooks.roi.length} points` : 'whole frame';
  ui.roiStatus.textContent = n
    ? `Drawing: ${n} point${n === 1 ? '' : 's'}${n < 3 ? ` (${3 - n} more needed)` : ''} · saved ROI: ${saved}`
    : `ROI: ${saved}`;
}

async function saveROI() {
  const points = roi.draft.slice();
  if (points.length < 3) return;
  try {
    if (!hooks.sessionId || sessionClosed) {
      // No checkout yet: start one with this ROI; the camera or an upload joins it.
      if (sessionClosed) forgetSession();
      const s = await api.createSession(points);
      attachSession(s.id, s, true);
    } else {
      applySession(await api.putROI(hooks.sessionId, points));
    }
    roi.reset();
    clearMessage();
  } catch (err) {
    showMessage(`The ROI could not be saved: ${err.message}`);
  }
}

async function clearROI() {
  if (!hooks.sessionId) return;
  try {
    applySession(await api.deleteROI(hooks.sessionId));
    clearMessage();
  } catch (err) {
    showMessage(`The ROI could not be cleared: ${err.message}`);
  }
}

// --- uploads ---

async function uploadFile(file) {
  if (!file) return;
  clearMessage();
  ui.uploadState.hidden = false;
  ui.uploadProgress.value = 0;
  ui.uploadLabel.textContent = 'Uploading…';
  ui.uploadInput.disabled = true;
  try {
    if (sessionClosed || (hooks.cart && hooks.cart.confirmed)) resetCheckout();
    await ensureSession();
    ui.uploadState.hidden = false;
    const task = await api.uploadVideo(hooks.sessionId, file, (f) => {
      ui.uploadProgress.value = f;
      ui.uploadLabel.textContent = `Uploading ${Math.round(f * 100)}%`;
    });
    hooks.task = task;
    ui.uploadProgress.value = task.progress || 0;
    ui.uploadLabel.textContent = 'Processing…';
    watchTask(task.id);
  } catch (err) {
    ui.uploadLabel.textContent = 'Upload failed';
    ui.uploadInput.disabled = false;
    showMessage(`The video could not be uploaded: ${err.message}`);
  } finally {
    ui.uploadInput.value = '';
  }
}

function watchTask(id) {
  const es = new EventSource(api.taskEventsURL(id));
  const finish = () => {
    es.close();
    ui.uploadInput.disabled = false;
  };
  const parse = (m) => {
    try { return JSON.parse(m.data); } catch { return {}; }
  };
  es.addEventListener('progress', (m) => {
    const e = parse(m);
    hooks.task = { ...hooks.task, state: 'running', progress: e.progress || 0, frames: e.frames || 0 };
    if (typeof e.progress === 'number') {
      ui.uploadProgress.value = e.progress;
      ui.uploadLabel.textContent = `Processing ${Math.round(e.progress * 100)}%`;
    } else {
      ui.uploadProgress.removeAttribute('value'); // length unknown: indeterminate
      ui.uploadLabel.textContent = `Processing… ${e.frames || 0} frames`;
    }
  });
  es.addEventListener('done', (m) => {
    const e = parse(m);
    finish();
    hooks.task = { ...hooks.task, state: 'done', progress: 1 };
    ui.uploadProgress.value = 1;
    ui.uploadLabel.textContent = 'Done: the cart shows what the video contained.';
    if (e.cart) applyCart(e.cart);
    else refreshCart();
  });
  es.addEventListener('failed', (m) => {
    const e = parse(m);
    finish();
    hooks.task = { ...hooks.task, state: 'failed', error: e.error || '' };
    ui.uploadLabel.textContent = 'Processing failed';
    showMessage(`The video could not be processed: ${e.error || 'unknown error'}`);
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      finish();
      ui.uploadLabel.textContent = 'Lost track of the upload: the cart shows what was counted.';
      refreshCart();
    }
  });
}

// --- wiring ---

function renderAll() {
  renderCart();
  renderROI();
}

ui.start.addEventListener('click', start);
ui.stop.addEventListener('click', stop);
ui.confirm.addEventListener('click', confirmPurchase);
ui.newCheckout.addEventListener('click', resetCheckout);
ui.roiSave.addEventListener('click', saveROI);
ui.roiClear.addEventListener('click', clearROI);
ui.roiReset.addEventListener('click', () => roi.reset());
ui.uploadInput.addEventListener('change', () => uploadFile(ui.uploadInput.files && ui.uploadInput.files[0]));
ui.addForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.addProduct.value;
  if (!name) return;
  const inCart = cartItems().find((i) => i.product.toLowerCase() === name.toLowerCase());
  setQuantity(name, inCart ? inCart.quantity + 1 : 1);
  ui.addProduct.value = '';
});
window.addEventListener('pagehide', () => {
  // keepalive requests: they still go out while the page unloads.
  if (whip) whip.close();
  if (ownSession && hooks.sessionId && !sessionClosed) {
    fetch(`/api/sessions/${encodeURIComponent(hooks.sessionId)}`, { method: 'DELETE', keepalive: true }).catch(() => {});
  }
});

setState('idle');
setEventsState('idle');
renderAll();
loadProducts();

// ?session=ID follows an existing checkout (a second screen, or a page reload).
const joinId = new URLSearchParams(location.search).get('session');
if (joinId) attachSession(joinId);
