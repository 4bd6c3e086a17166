// The checkout page: the camera goes to the server over WHIP, the annotated video comes back
// on the same connection, and the cart follows the session's event stream.
//
// The shopper sees products, prices, the cart and clear prompts. The session survives a reload
// (its id is in the URL and in sessionStorage; the key is the session's cookie) and the camera
// reconnects to it. Engineering details (ids, scores, the counting area, uploads, the event
// log, cart overrides) are behind staff mode, unlocked with a staff or admin token.
//
// The annotations also come as data (the session's annotation stream, while the camera is
// live). When the returned video lags (no new frame for a second, or none yet), the page shows
// the camera's own preview, which has no network delay, with the latest annotation drawn on
// it, and goes back to the returned video once its frames flow again; staff can choose either.

import * as api from './api.js';
import { WhipClient } from './whip.js';
import { RoiEditor, clearCanvas, contentBox, fromNormalised } from './roi.js';

const PIPELINE = 'live'; // the checkout pipeline
const LOG_SIZE = 20; // events shown
const KEEP_EVENTS = 500; // events kept in window.ebrcs.events
const MAX_RECONNECTS = 5;
const DISCONNECTED_GRACE_MS = 4000; // 'disconnected' this long is treated as failed
const TOAST_MS = 8000; // how long "Milk added · Undo" stays
const SESSION_EVENTS = ['count', 'cooldown', 'unknown', 'review', 'roi', 'recognising', 'cart', 'confirmed', 'roi_set', 'closed'];
// sessionStorage keys: this tab's checkout, whether its camera was on, staff's token.
const STORE_SESSION = 'ebrcs.session';
const STORE_CAMERA = 'ebrcs.camera';
const STORE_STAFF = 'ebrcs.staff';
// The returned video is stalled when no new frame came for this long; back on it once its
// frames have flowed again for RESUME_MS.
const STALL_MS = 1000;
const RESUME_MS = 300;
const VIEW_CHECK_MS = 250;
const ANNOTATION_STALE_MS = 1500; // an older annotation is no longer drawn
const ANNOTATION_RETRY_MAX_MS = 8000;
// ebrcs_overlay's defaults (elements/overlay), so that both drawings look the same.
const OVERLAY = {
  roi: '#00c8ff', matched: '#00d26a', unknown: '#ff3b30', pending: '#ffcc00', text: '#ffffff',
  panel: 'rgba(0, 0, 0, 0.63)', lineWidth: 2, fontSize: 18, cartLines: 6, // sizes at 480 lines
};
const FALLBACK_NOTE = 'Showing your camera; the checkout\'s video is catching up';

// Counting area presets (normalised polygons), for keyboards and quick setup.
const PRESETS = {
  centre: [[0.2, 0.15], [0.8, 0.15], [0.8, 0.95], [0.2, 0.95]],
  lower: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
  left: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]],
  right: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]],
  whole: null,
};

const $ = (id) => document.getElementById(id);
const ui = {
  start: $('start'), stop: $('stop'), conn: $('conn-state'), message: $('message'),
  video: $('video'), canvas: $('roi-canvas'), hint: $('video-hint'),
  preview: $('preview'), overlay: $('annotation-canvas'), viewNote: $('view-note'),
  viewChoices: document.querySelectorAll('input[name="view"]'),
  roiSave: $('roi-save'), roiClear: $('roi-clear'), roiReset: $('roi-reset'), roiStatus: $('roi-status'),
  uploadInput: $('upload-input'), uploadState: $('upload-state'), uploadProgress: $('upload-progress'), uploadLabel: $('upload-label'),
  sessionLabel: $('session-label'), cartList: $('cart-list'), cartEmpty: $('cart-empty'),
  reviews: $('reviews'), reviewList: $('review-list'),
  addForm: $('add-form'), addProduct: $('add-product'), addButton: $('add-button'),
  count: $('cart-count'), price: $('cart-price'), confirm: $('confirm'), confirmHint: $('confirm-hint'),
  done: $('done'), receipt: $('receipt'), newCheckout: $('new-checkout'), endCheckout: $('end-checkout'),
  eventsState: $('events-state'), log: $('event-log'),
  toast: $('toast'), toastText: $('toast-text'), undo: $('undo'), announcer: $('announcer'),
  staffButton: $('staff-button'), staffLock: $('staff-lock'), staffBadge: $('staff-badge'),
  staffDialog: $('staff-dialog'), staffForm: $('staff-form'), staffToken: $('staff-token'), staffError: $('staff-error'),
  staffCancel: $('staff-cancel'),
};

/**
 * Hooks for automated browser tests, kept up to date:
 * state: idle | starting | connecting | live | reconnecting | ended | error;
 * sessionId; cart (the last cart JSON, its pending reviews included); events (every session
 * event received, oldest first);
 * eventsState: idle | connecting | open | reconnecting | closed; roi (the session's ROI or null);
 * task (the last upload task, its last known view); error (the last message shown);
 * store (currency, locale, require_prices); staff (the staff mode's role, or null);
 * announcements (every polite announcement made, oldest first);
 * view: server | local (the returned video, or the camera's preview with the annotations);
 * viewMode: auto | server | local (staff's choice); annotationsState: idle | connecting |
 * open | reconnecting | closed; annotations (how many received); annotation (the latest);
 * drawn (annotations drawn on the preview); receivedVideo() (a promise of the returned
 * video's inbound-rtp statistics, or null before it plays).
 */
const hooks = {
  state: 'idle', sessionId: null, cart: null, events: [], eventsState: 'idle', roi: null, task: null, error: null,
  store: null, staff: null, announcements: [],
  view: 'server', viewMode: 'auto', annotationsState: 'idle', annotations: 0, annotation: null, drawn: 0,
};
window.ebrcs = hooks;
hooks.receivedVideo = async () => {
  const pc = whip && whip.pc;
  if (!pc) return null;
  let found = null;
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') found = r;
  });
  return found && JSON.parse(JSON.stringify(found));
};

let whip = null;
let localStream = null;
let events = null; // the session's EventSource
let lastSeq = 0; // the last event seen in this session (the stream resumes, duplicates are dropped)
let sessionClosed = false; // the server ended the session
let leaving = false; // the page is moving to another server: no "leave?" question
let busy = false; // a cart request is on its way
const answering = new Set(); // ids of the reviews whose answer is on its way
let reconnects = 0;
let reconnectTimer = 0;
let disconnectTimer = 0;
let toastTimer = 0;
let products = []; // the catalog, for prices, thumbnails and adding by hand
let store = { currency: 'USD', locale: 'en-US', require_prices: false, vibrate: false, sound: false };
let money = api.moneyFormatter(store);
let staffToken = sessionStorage.getItem(STORE_STAFF) || '';
let lastCount = null; // {product, version}: what Undo takes back
let shownQty = new Map(); // product → quantity last rendered (for the cue on a count)
let shownFor = null; // the session whose cart was last rendered: a cue only for changes seen live
let annotationSource = null; // the session's annotation stream, while live
let annotationSession = null; // the session it follows
let annotationRetries = 0;
let annotationTimer = 0;
let annotationAt = 0; // performance.now() when the latest annotation came
let remoteFrameAt = 0; // performance.now() of the returned video's latest frame (0: none yet)
let remoteFlowSince = 0; // when its frames started flowing again
let remoteFrames = 0; // its decoded frames, last seen
let viewTimer = 0;

const roi = new RoiEditor(ui.canvas, ui.video, { onChange: () => renderROI() });
const plural = new Intl.PluralRules('en');
const items = (n) => `${n} ${plural.select(n) === 'one' ? 'item' : 'items'}`;

// --- messages, announcements and state ---

function showMessage(text, kind = 'error') {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
  ui.message.hidden = !text;
  if (kind === 'error') hooks.error = text;
}

function clearMessage() {
  showMessage('', 'info');
}

/** Says one short thing to screen readers, politely ("Milk added"). */
function announce(text) {
  hooks.announcements.push(text);
  if (hooks.announcements.length > 50) hooks.announcements.shift();
  // A change of text is what a live region reads: clear, then set on the next frame.
  ui.announcer.textContent = '';
  requestAnimationFrame(() => { ui.announcer.textContent = text; });
}

const STATE_LABELS = {
  idle: 'Camera off', starting: 'Starting camera…', connecting: 'Connecting…', live: 'Scanning',
  reconnecting: 'Reconnecting…', ended: 'Camera paused', error: 'Not connected',
};
const STATE_HINTS = {
  idle: 'Press “Start camera”, then hold each product in the frame for a moment.',
  starting: 'Waiting for the camera… allow it if the browser asks.',
  connecting: 'Connecting…',
  live: '',
  reconnecting: 'The connection was lost: reconnecting… your cart is kept.',
  ended: 'Camera paused. Press “Start camera” to scan more products.',
  error: 'Press “Start camera” to try again.',
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
  if (state === 'live') openAnnotations();
  else closeAnnotations();
  updateView();
}

function setEventsState(state) {
  hooks.eventsState = state;
  ui.eventsState.dataset.state = state;
  ui.eventsState.textContent = {
    idle: 'not connected', connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…', closed: 'closed',
  }[state] || state;
}

// --- staff mode ---

function setStaff(role, token) {
  staffToken = role ? token : '';
  if (role) sessionStorage.setItem(STORE_STAFF, token);
  else sessionStorage.removeItem(STORE_STAFF);
  showStaff(role);
}

/** Shows or hides what only staff see. */
function showStaff(role) {
  hooks.staff = role || null;
  document.body.classList.toggle('staff', Boolean(role));
  ui.staffButton.hidden = Boolean(role);
  ui.staffBadge.textContent = role ? `Staff mode (${role})` : '';
  ui.canvas.tabIndex = role ? 0 : -1;
  if (role) ui.canvas.removeAttribute('aria-hidden');
  else ui.canvas.setAttribute('aria-hidden', 'true');
  roi.setEnabled(Boolean(role));
  if (!role) {
    roi.reset();
    setViewMode('auto');
  }
  renderAll();
}

async function unlockStaff(e) {
  e.preventDefault();
  const token = ui.staffToken.value.trim();
  ui.staffError.hidden = true;
  ui.staffToken.removeAttribute('aria-invalid');
  if (!token) {
    showStaffError('Enter the staff or admin token.');
    return;
  }
  try {
    const who = await api.whoami(token);
    setStaff(who.role, token);
    ui.staffToken.value = '';
    ui.staffDialog.close();
    announce(`Staff mode on (${who.role})`);
  } catch (err) {
    showStaffError(err.status === 0 ? err.message : `Not unlocked: ${err.message}`);
  }
}

function showStaffError(text) {
  ui.staffError.textContent = text;
  ui.staffError.hidden = false;
  ui.staffToken.setAttribute('aria-invalid', 'true');
  ui.staffToken.focus();
}

async function restoreStaff() {
  if (!staffToken) return;
  try {
    const who = await api.whoami(staffToken);
    setStaff(who.role, staffToken);
  } catch {
    setStaff(null);
  }
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
      return 'No usable camera was found. Connect a camera, or ask staff for help.';
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
    showMessage(`This page cannot use the camera: it is not a secure page (${location.origin}). Browsers only allow the camera on https:// pages or on http://localhost.`);
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
  ui.preview.srcObject = localStream;
  ui.preview.play().catch(() => { /* a muted video may autoplay */ });
  remoteFrameAt = 0; // the returned video has not started: the preview stands in
  startViewCheck();
  for (const t of localStream.getVideoTracks()) {
    t.addEventListener('ended', () => {
      if (localStream && localStream.getTracks().includes(t)) {
        stop();
        showMessage('The camera stopped (it was disconnected or its permission was withdrawn).');
      }
    });
  }
  sessionStorage.setItem(STORE_CAMERA, 'on');
  reconnects = 0;
  try {
    // The page creates the session itself rather than letting WHIP make one: a session made
    // by WHIP ends with its connection, and the cart must outlive a reconnection or a pause.
    await ensureSession();
  } catch (err) {
    stopCamera();
    setState('error');
    showMessage(`Could not start a checkout: ${err.message}`);
    return;
  }
  await connect();
}

async function connect() {
  clearTimeout(reconnectTimer);
  if (!localStream) return;
  setState(reconnects ? 'reconnecting' : 'connecting');
  const client = new WhipClient({
    onState: (s) => onPeerState(client, s),
    onTrack: (_t, stream) => showRemote(stream),
    navigate: moveTo,
  });
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
    if (err.status === 307) return; // moving to a server with room
    if (reconnects > 0 && (!err.status || err.status >= 500)) {
      scheduleReconnect();
      return;
    }
    stopCamera();
    setState('error');
    showMessage(`Could not connect to the checkout: ${err.message}`);
  }
}

/**
 * This server is full: the page continues on another. The session made here is empty (the
 * camera never joined it): it is closed, and the new page starts its own there.
 */
function moveTo(url) {
  leaving = true;
  const target = new URL(url);
  target.searchParams.delete('session');
  const id = hooks.sessionId;
  if (id && cartItems().length === 0) {
    fetch(`/api/sessions/${encodeURIComponent(id)}`, { method: 'DELETE', keepalive: true }).catch(() => {});
  }
  sessionStorage.removeItem(STORE_SESSION);
  window.location.assign(target.href);
}

function showRemote(stream) {
  if (ui.video.srcObject !== stream) {
    ui.video.srcObject = stream;
    remoteFrameAt = 0;
    remoteFrames = 0;
  }
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
    showMessage('The connection was lost. Your cart is kept: press “Start camera” to go on.');
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
  ui.preview.srcObject = null;
  clearInterval(viewTimer);
  viewTimer = 0;
  updateView();
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
  sessionStorage.setItem(STORE_CAMERA, 'off');
  setState('ended');
}

// --- the annotations, over the camera's own preview while the returned video lags ---

/** The session's annotation stream: opened while live, again with backoff when it breaks. */
function openAnnotations() {
  clearTimeout(annotationTimer);
  const id = hooks.sessionId;
  if (annotationSource || !id) return;
  setAnnotationsState(annotationRetries ? 'reconnecting' : 'connecting');
  const es = new EventSource(`/api/sessions/${encodeURIComponent(id)}/annotations`);
  annotationSource = es;
  annotationSession = id;
  es.addEventListener('open', () => {
    if (annotationSource === es) setAnnotationsState('open');
  });
  es.addEventListener('annotation', (m) => {
    if (annotationSource !== es) return;
    let a;
    try { a = JSON.parse(m.data); } catch { return; }
    annotationRetries = 0;
    onAnnotation(a);
  });
  es.addEventListener('error', () => {
    if (annotationSource !== es) return;
    // Refused (409 while the camera's pipeline is still starting) or cut (the camera's
    // connection ended): EventSource gives up on the first and retries the second without
    // backing off, so the page retries itself while the camera is live.
    es.close();
    annotationSource = null;
    if (hooks.state !== 'live') {
      setAnnotationsState('closed');
      return;
    }
    annotationRetries++;
    setAnnotationsState('reconnecting');
    annotationTimer = setTimeout(openAnnotations, Math.min(250 * 2 ** (annotationRetries - 1), ANNOTATION_RETRY_MAX_MS));
  });
}

function closeAnnotations() {
  clearTimeout(annotationTimer);
  annotationRetries = 0;
  if (!annotationSource && hooks.annotationsState === 'idle') return;
  if (annotationSource) annotationSource.close();
  annotationSource = null;
  annotationSession = null;
  hooks.annotation = null;
  setAnnotationsState('closed');
  drawAnnotation();
}

function setAnnotationsState(state) {
  hooks.annotationsState = state;
}

function onAnnotation(a) {
  hooks.annotation = a;
  hooks.annotations++;
  annotationAt = performance.now();
  if (hooks.view === 'local') drawAnnotation();
}

/** Counts the returned video's frames: presented (requestVideoFrameCallback) or decoded. */
function remoteFrame() {
  const now = performance.now();
  if (now - remoteFrameAt >= STALL_MS) remoteFlowSince = now;
  remoteFrameAt = now;
}

function watchReturnedVideo() {
  if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype)) return;
  const tick = () => {
    remoteFrame();
    ui.video.requestVideoFrameCallback(tick);
  };
  ui.video.requestVideoFrameCallback(tick);
}

/** While the camera is on: is the returned video flowing, and is the annotation still fresh? */
function startViewCheck() {
  clearInterval(viewTimer);
  viewTimer = setInterval(() => {
    const q = ui.video.getVideoPlaybackQuality ? ui.video.getVideoPlaybackQuality().totalVideoFrames : 0;
    if (q > remoteFrames) remoteFrame();
    remoteFrames = q;
    updateView();
    if (hooks.view === 'local' && hooks.annotation && performance.now() - annotationAt > ANNOTATION_STALE_MS) drawAnnotation();
  }, VIEW_CHECK_MS);
  updateView();
}

/** Staff's choice of video: auto (the returned video unless it lags), server or local. */
function setViewMode(mode) {
  hooks.viewMode = ['server', 'local'].includes(mode) ? mode : 'auto';
  for (const r of ui.viewChoices) r.checked = r.value === hooks.viewMode;
  updateView();
}

/** Shows the returned video or the camera's preview with the annotations, as the moment wants. */
function updateView() {
  const now = performance.now();
  const flowing = remoteFrameAt > 0 && now - remoteFrameAt < STALL_MS;
  const steady = flowing && now - remoteFlowSince >= RESUME_MS;
  let local = false;
  if (localStream) {
    if (hooks.viewMode === 'local') local = true;
    else if (hooks.viewMode === 'auto') local = hooks.view === 'local' ? !steady : !flowing;
  }
  const note = local && hooks.viewMode === 'auto' && hooks.state === 'live' ? FALLBACK_NOTE : '';
  if (ui.viewNote.textContent !== note) ui.viewNote.textContent = note;
  const view = local ? 'local' : 'server';
  if (view === hooks.view) return;
  hooks.view = view;
  ui.preview.hidden = !local;
  ui.overlay.hidden = !local;
  // The covered video is left playing (its frames tell when it flows again), out of the way
  // of screen readers; the area editor draws over the picture shown.
  if (local) ui.video.setAttribute('aria-hidden', 'true');
  else ui.video.removeAttribute('aria-hidden');
  roi.video = local ? ui.preview : ui.video;
  roi.redraw();
  drawAnnotation();
}

/** The overlay's words for the main object (elements/overlay labelText). */
function annotationLabel(a) {
  if (a.state === 'pending') return 'Checking…';
  if (a.state === 'matched' && a.product) return a.product;
  if (a.ask) return 'Not sure: see the screen';
  return 'Not recognised';
}

/** The overlay's words for the ROI status (elements/overlay statusText). */
const STATUS_WORDS = { empty: 'Show a product', outside: 'Move it into the area', entered: 'In the area', inside: 'In the area' };

const overlaps = (r, list) => list.some((a) => r.x0 < a.x1 && a.x0 < r.x1 && r.y0 < a.y1 && a.y0 < r.y1);

/**
 * placeLabel(box, w, h, frame, avoid) → where a w×h label of box goes within frame: above the
 * box, at the top inside it, below it, at the bottom inside it, at the box's left edge or
 * moved sideways clear of what it would cover (elements/overlay placeLabel). Rectangles are
 * {x0, y0, x1, y1}.
 */
export function placeLabel(box, w, h, frame, avoid) {
  const clampX = (x) => Math.max(frame.x0, Math.min(x, frame.x1 - w));
  const rect = (x, y) => ({ x0: x, y0: y, x1: x + w, y1: y + h });
  let y0 = box.y0 - h;
  if (y0 < frame.y0) y0 = Math.max(box.y0, frame.y0);
  const first = rect(clampX(box.x0), y0);
  if (!overlaps(first, avoid)) return first;
  for (const y of [box.y0 - h, box.y0, box.y1, box.y1 - h]) {
    if (y < frame.y0 || y + h > frame.y1) continue;
    const xs = [clampX(box.x0)];
    for (const a of avoid) xs.push(clampX(a.x1 + 1), clampX(a.x0 - w - 1));
    for (const x of xs) {
      const r = rect(x, y);
      if (!overlaps(r, avoid)) return r;
    }
  }
  return first;
}

/** Draws the latest annotation over the preview as ebrcs_overlay draws it on the video. */
function drawAnnotation() {
  const c = ui.overlay;
  const cleared = clearCanvas(c);
  if (!cleared) return;
  const { ctx, cw, ch } = cleared;
  const a = hooks.annotation;
  if (c.hidden || !a || performance.now() - annotationAt > ANNOTATION_STALE_MS) return;
  const pic = contentBox(ui.preview, cw, ch);
  if (!pic.w || !pic.h) return;
  const k = pic.h / 480; // the overlay's sizes are for 480 lines
  const lw = Math.max(1, Math.round(OVERLAY.lineWidth * k));
  const pad = Math.max(2, Math.round(4 * k));
  const size = Math.max(10, OVERLAY.fontSize * k);
  ctx.font = `${size}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  const textW = (t) => Math.ceil(ctx.measureText(t).width);
  const lineH = Math.ceil(size * 1.2);
  const frame = { x0: pic.x, y0: pic.y, x1: pic.x + pic.w, y1: pic.y + pic.h };

  // The status badge and the cart first, so that the label keeps clear of them.
  const avoid = [];
  const status = a.status ? STATUS_WORDS[a.status] || a.status : '';
  const sw = Math.round(lineH / 2);
  let statusRect = null;
  if (status) {
    const x = frame.x0 + pad;
    const y = frame.y0 + pad;
    statusRect = { x0: x, y0: y, x1: x + pad + sw + pad + textW(status) + pad, y1: y + lineH + 2 * pad };
    avoid.push(statusRect);
  }
  const cart = (a.cart || []).slice(0, OVERLAY.cartLines).map((l) => `${l.quantity} × ${l.product}`);
  if (a.cart_more > 0) cart.push(`+${a.cart_more} more`);
  let cartRect = null;
  if (cart.length) {
    const w = Math.max(...cart.map(textW)) + 2 * pad;
    const h = cart.length * (lineH + Math.floor(pad / 2)) + 2 * pad - Math.floor(pad / 2);
    const x = Math.max(frame.x0, frame.x1 - pad - w);
    cartRect = { x0: x, y0: frame.y0 + pad, x1: x + w, y1: frame.y0 + pad + h };
    avoid.push(cartRect);
  }
  if (Array.isArray(a.roi) && a.roi.length >= 3) {
    ctx.lineWidth = lw;
    ctx.strokeStyle = OVERLAY.roi;
    ctx.setLineDash([]);
    ctx.beginPath();
    a.roi.forEach((p, i) => {
      const [x, y] = fromNormalised(p, pic);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.closePath();
    ctx.stroke();
  }
  if (Array.isArray(a.box) && a.box.length === 4) {
    const [x0, y0] = fromNormalised([a.box[0], a.box[1]], pic);
    const [x1, y1] = fromNormalised([a.box[2], a.box[3]], pic);
    const colour = OVERLAY[a.state] || OVERLAY.pending;
    ctx.lineWidth = lw;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x0 + lw / 2, y0 + lw / 2, Math.max(0, x1 - x0 - lw), Math.max(0, y1 - y0 - lw));
    const label = annotationLabel(a);
    const tab = placeLabel({ x0, y0, x1, y1 }, textW(label) + 2 * pad, lineH + 2 * pad, frame, avoid);
    ctx.fillStyle = colour;
    ctx.fillRect(tab.x0, tab.y0, tab.x1 - tab.x0, tab.y1 - tab.y0);
    ctx.fillStyle = OVERLAY.text;
    ctx.fillText(label, tab.x0 + pad, tab.y0 + pad);
  }
  if (statusRect) {
    ctx.fillStyle = OVERLAY.panel;
    ctx.fillRect(statusRect.x0, statusRect.y0, statusRect.x1 - statusRect.x0, statusRect.y1 - statusRect.y0);
    ctx.fillStyle = OVERLAY.roi;
    ctx.fillRect(statusRect.x0 + pad, statusRect.y0 + pad + Math.round((lineH - sw) / 2), sw, sw);
    ctx.fillStyle = OVERLAY.text;
    ctx.fillText(status, statusRect.x0 + 2 * pad + sw, statusRect.y0 + pad);
  }
  if (cartRect) {
    ctx.fillStyle = OVERLAY.panel;
    ctx.fillRect(cartRect.x0, cartRect.y0, cartRect.x1 - cartRect.x0, cartRect.y1 - cartRect.y0);
    ctx.fillStyle = OVERLAY.text;
    cart.forEach((t, i) => ctx.fillText(t, cartRect.x0 + pad, cartRect.y0 + pad + i * (lineH + Math.floor(pad / 2))));
  }
  hooks.drawn++;
  c.dataset.drawnAt = String(Date.now());
}

// --- the session ---

/** Keeps the session's id where a reload finds it: the URL and this tab's storage. */
function rememberSession(id) {
  const url = new URL(window.location.href);
  if (id) {
    url.searchParams.set('session', id);
    sessionStorage.setItem(STORE_SESSION, id);
  } else {
    url.searchParams.delete('session');
    sessionStorage.removeItem(STORE_SESSION);
    sessionStorage.removeItem(STORE_CAMERA);
  }
  if (url.href !== window.location.href) history.replaceState(null, '', url.href);
}

function attachSession(id, view) {
  if (hooks.sessionId !== id) {
    hooks.sessionId = id;
    hooks.cart = null;
    hooks.roi = null;
    lastSeq = 0;
    lastCount = null;
    shownQty = new Map();
    sessionClosed = false;
  }
  rememberSession(id);
  ui.sessionLabel.textContent = id ? `· ${id}` : '';
  if (annotationSource && annotationSession !== id) {
    closeAnnotations();
    if (hooks.state === 'live') openAnnotations();
  }
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
    attachSession(s.id, s);
  }
  return hooks.sessionId;
}

function forgetSession() {
  if (events) events.close();
  events = null;
  hooks.sessionId = null;
  hooks.cart = null;
  hooks.roi = null;
  lastSeq = 0;
  lastCount = null;
  shownQty = new Map();
  sessionClosed = false;
  roi.setSaved(null);
  ui.sessionLabel.textContent = '';
  rememberSession(null);
  hideToast();
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
    else if (err.status === 401 || err.status === 403) {
      // Not this browser's checkout (a link from another device): start afresh.
      forgetSession();
      showMessage('That checkout belongs to another device. Press “Start camera” to begin your own.', 'info');
    } else showMessage(`Could not load your checkout: ${err.message}`);
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
  const confirmed = Boolean(hooks.cart && hooks.cart.confirmed);
  sessionClosed = true;
  if (events) events.close();
  events = null;
  setEventsState('closed');
  if (whip || localStream) stop();
  sessionStorage.removeItem(STORE_CAMERA);
  if (!confirmed) {
    showMessage('This checkout has ended (it was cancelled, or unused for too long). Press “Start camera” to begin a new one.', 'info');
    forgetSession();
  }
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
  roi.reset();
  clearMessage();
  setState('idle');
  sessionStorage.removeItem(STORE_CAMERA);
  renderAll();
}

/** Cancel: the shopper ends the checkout on purpose (after saying so). */
function endCheckout() {
  const n = cartItems().reduce((k, i) => k + i.quantity, 0);
  if (n > 0 && !window.confirm(`Cancel this checkout? The ${items(n)} in your cart will be removed.`)) return;
  resetCheckout();
  announce('Checkout cancelled');
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
  if (e.type !== 'recognising') logEvent(e); // shown on the cart instead: it changes with every look
  switch (e.type) {
    case 'count':
      if (e.cart) applyCart(e.cart);
      else refreshCart();
      counted(e);
      break;
    case 'review':
      if (e.cart) applyCart(e.cart);
      else refreshCart();
      announce('Which product is this? Please choose below.');
      break;
    case 'unknown':
      announce('That product was not recognised. Try again, or ask staff.');
      break;
    case 'recognising':
      // Only the count of products still being recognised changed: the lines stay as they
      // are (re-rendering them would cut a count's cue short).
      if (e.cart && hooks.cart && e.cart.version === hooks.cart.version && !hooks.cart.confirmed) {
        hooks.cart.recognising = e.cart.recognising;
        renderConfirm(cartItems(), canEdit());
      } else if (e.cart) applyCart(e.cart);
      break;
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

/** A count: a visible cue on its line, a polite announcement, Undo, and a short vibration. */
function counted(e) {
  const name = e.product || 'A product';
  const version = e.cart ? e.cart.version : (hooks.cart ? hooks.cart.version : 0);
  lastCount = { product: e.product, version };
  announce(`${name} added`);
  showToast(`${name} added`);
  if (store.vibrate && navigator.vibrate) navigator.vibrate(60);
  if (store.sound) beep();
}

let audio = null;

/** A short, soft tone (the store's choice: store.sound_on_count). */
function beep() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.15);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.15);
  } catch { /* no audio here */ }
}

function showToast(text) {
  ui.toastText.textContent = text;
  ui.toast.hidden = false;
  ui.undo.disabled = !lastCount || !canEdit();
  clearTimeout(toastTimer);
  toastTimer = setTimeout(hideToast, TOAST_MS);
}

function hideToast() {
  clearTimeout(toastTimer);
  ui.toast.hidden = true;
}

/** Undo: one of the last counted product comes out of the cart again. */
async function undoLastCount() {
  const last = lastCount;
  if (!last || !canEdit()) return;
  const line = cartItems().find((i) => i.product.toLowerCase() === String(last.product).toLowerCase());
  if (!line) return;
  lastCount = null;
  hideToast();
  const ok = await setQuantity(line.product, line.quantity - 1);
  if (ok) announce(`${line.product} removed`);
}

const ROI_STATUS = {
  empty: 'Counting area empty',
  outside: 'Object outside the counting area',
  entered: 'Object entered the counting area',
  inside: 'Object in the counting area',
};

/** describe(event) → a line for staff: "Milk added (0.83)". */
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
      return `Not sure which product this is: asked${first ? ` (closest: ${first.product})` : ''}`;
    }
    case 'roi':
      return ROI_STATUS[e.status] || `Counting area: ${e.status || '?'}`;
    case 'cart':
      return 'Cart edited';
    case 'confirmed':
      return 'Purchase confirmed';
    case 'roi_set':
      return e.roi && e.roi.length ? `Counting area set (${e.roi.length} points)` : 'Counting area cleared (whole frame)';
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
    time.textContent = t.toLocaleTimeString(store.locale || undefined);
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
      if (it.product_id && products.length && !products.some((p) => p.id === it.product_id && p.name === it.product)) {
        loadProducts(); // a product registered (or renamed) since the page loaded
        break;
      }
    }
  }
  if (cart.confirmed) sessionStorage.removeItem(STORE_CAMERA);
  renderCart();
}

function productFor(item) {
  return products.find((p) => (item.product_id && p.id === item.product_id) || p.name.toLowerCase() === String(item.product).toLowerCase());
}

function unitPrice(item) {
  const p = productFor(item);
  return p && p.price_cents != null ? p.price_cents : null;
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
  if (aria) b.setAttribute('aria-label', aria);
  b.disabled = disabled;
  b.addEventListener('click', onClick);
  return b;
}

function thumbnail(item) {
  const p = productFor(item);
  const box = document.createElement('span');
  box.className = 'thumb';
  if (p && p.images > 0) {
    const img = document.createElement('img');
    img.src = api.productImageURL(p.id, 1);
    img.alt = '';
    img.dataset.testid = 'cart-thumb';
    img.addEventListener('error', () => img.remove());
    box.append(img);
  }
  return box;
}

/** totals() → {count, cents, unpriced: [names]} of the cart's lines. */
function totals(list) {
  let count = 0;
  let cents = 0;
  const unpriced = [];
  for (const i of list) {
    count += i.quantity;
    const unit = unitPrice(i);
    if (unit == null) unpriced.push(i.product);
    else cents += unit * i.quantity;
  }
  return { count, cents, unpriced };
}

function renderCart() {
  const list = cartItems();
  const editable = canEdit();
  const confirmed = Boolean(hooks.cart && hooks.cart.confirmed);
  const staff = Boolean(hooks.staff);
  const previous = shownQty;
  const cue = shownFor !== null && shownFor === hooks.sessionId;
  shownQty = new Map();
  shownFor = hooks.cart ? hooks.sessionId : null;
  ui.cartList.replaceChildren(...list.map((item) => {
    const li = document.createElement('li');
    li.dataset.testid = 'cart-item';
    li.dataset.product = item.product;
    const before = previous.get(item.product) || 0;
    shownQty.set(item.product, item.quantity);
    if (cue && item.quantity > before) li.classList.add('bump'); // the visible cue of a count
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = item.product;
    const meta = document.createElement('span');
    meta.className = 'meta';
    const unit = unitPrice(item);
    const parts = [];
    if (unit == null) parts.push('No price');
    else if (item.quantity > 1) parts.push(`${money(unit)} each`);
    if (staff && item.score) parts.push(`score ${item.score.toFixed(2)}`);
    meta.textContent = parts.join(' · ');
    const info = document.createElement('span');
    info.className = 'info';
    info.append(name, meta);
    if (staff && editable && products.length > 1) info.append(replaceSelect(item));
    const qty = document.createElement('span');
    qty.className = 'qty';
    qty.dataset.testid = 'qty';
    qty.textContent = String(item.quantity);
    const line = document.createElement('span');
    line.className = 'line-price';
    line.dataset.testid = 'line-price';
    line.textContent = unit != null ? money(unit * item.quantity) : '';
    const controls = document.createElement('span');
    controls.className = 'controls';
    controls.append(
      button('−', 'qty-minus', `One ${item.product} less`, () => setQuantity(item.product, item.quantity - 1), !editable),
      qty,
    );
    if (staff) {
      controls.append(button('+', 'qty-plus', `One ${item.product} more`, () => setQuantity(item.product, item.quantity + 1), !editable));
    }
    controls.append(button('✕', 'item-remove', `Remove ${item.product}`, () => setQuantity(item.product, 0), !editable));
    if (confirmed) controls.replaceChildren(qty);
    li.append(thumbnail(item), info, controls, line);
    return li;
  }));
  ui.cartEmpty.hidden = list.length > 0;
  renderConfirm(list, editable);
  ui.addProduct.disabled = !editable;
  ui.addButton.disabled = !editable;
  ui.endCheckout.hidden = !hooks.sessionId || confirmed;
  if (!lastCount || !editable) ui.undo.disabled = true;
  document.body.dataset.phase = confirmed ? 'done' : 'shopping';
  renderReviews();
  renderReceipt();
}

/** The totals, the confirm button and the hint on why it waits. */
function renderConfirm(list, editable) {
  const t = totals(list);
  ui.count.textContent = items(t.count);
  const known = t.cents > 0 || (list.length > 0 && t.unpriced.length === 0);
  ui.price.textContent = list.length && known ? `Total ${money(t.cents)}${t.unpriced.length ? ' + unpriced items' : ''}` : '';
  const waiting = pendingReviews().length;
  // Products shown that a busy server is still recognising: the cart is not complete yet.
  const recognising = (hooks.cart && hooks.cart.recognising) || 0;
  const blockedByPrice = store.require_prices && t.unpriced.length > 0;
  ui.confirm.disabled = !editable || t.count === 0 || waiting > 0 || recognising > 0 || blockedByPrice;
  let hint = '';
  if (waiting) hint = 'Answer “Which product is this?” first.';
  else if (recognising) hint = `Recognising ${recognising === 1 ? 'a product' : `${recognising} products`} you showed…`;
  else if (blockedByPrice) hint = `${t.unpriced.join(', ')} ${t.unpriced.length === 1 ? 'has' : 'have'} no price: please ask staff.`;
  else if (t.unpriced.length && list.length) hint = `${t.unpriced.join(', ')}: no price yet.`;
  ui.confirmHint.textContent = hint;
  ui.confirmHint.hidden = !hint;
  ui.confirm.textContent = known && t.count ? `Confirm purchase · ${money(t.cents)}` : 'Confirm purchase';
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
    const res = await api.answerReview(id, reviewId, answer, staffToken || undefined);
    clearMessage();
    if (hooks.sessionId === id && res && res.cart) applyCart(res.cart);
    announce(res && res.product ? `${res.product} added` : 'Thank you: nothing was added');
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

/** The receipt: every line with its price, and the total, in the store's currency. */
function renderReceipt() {
  const cart = hooks.cart;
  if (!cart || !cart.confirmed) {
    ui.receipt.hidden = true;
    ui.done.hidden = true;
    return;
  }
  const purchase = cart.purchase || {};
  const p = document.createElement('p');
  const when = purchase.created_at ? new Date(purchase.created_at).toLocaleString(store.locale || undefined) : '';
  p.textContent = `Your purchase${hooks.staff && purchase.id ? ` #${purchase.id}` : ''} is confirmed${when ? ` (${when})` : ''}.`;
  const table = document.createElement('table');
  table.className = 'receipt-lines';
  const body = document.createElement('tbody');
  const lines = purchase.items || cartItems();
  for (const i of lines) {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'receipt-line';
    const what = document.createElement('td');
    what.textContent = `${i.quantity} × ${i.product}`;
    const unit = unitPrice(i);
    const price = document.createElement('td');
    price.className = 'num';
    price.textContent = unit != null ? money(unit * i.quantity) : 'no price';
    tr.append(what, price);
    body.append(tr);
  }
  const t = totals(lines);
  const foot = document.createElement('tfoot');
  const tr = document.createElement('tr');
  const label = document.createElement('th');
  label.scope = 'row';
  label.textContent = `Total (${items(t.count)})`;
  const sum = document.createElement('td');
  sum.className = 'num';
  sum.dataset.testid = 'receipt-total';
  sum.textContent = money(t.cents) + (t.unpriced.length ? ' + unpriced items' : '');
  tr.append(label, sum);
  foot.append(tr);
  table.append(body, foot);
  ui.receipt.replaceChildren(p, table);
  ui.receipt.hidden = false;
  ui.done.hidden = false;
}

/**
 * A "Not this?" choice under a cart line (staff): one of it becomes another product, in one
 * edit, so that the server learns from the camera's mistake (its crop becomes a view of the
 * product chosen).
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
  await editCart((list) => {
    const it = list.find((i) => i.product.toLowerCase() === product.toLowerCase());
    if (it) it.quantity = Math.max(0, it.quantity - 1);
    const to = list.find((i) => i.product.toLowerCase() === other.toLowerCase());
    if (to) to.quantity += 1;
    else list.push({ product: other, quantity: 1 });
    return list;
  });
}

/** Sends the whole cart with one product's new quantity (0 removes it); true when done. */
async function setQuantity(product, quantity) {
  return editCart((list) => {
    const key = product.toLowerCase();
    const it = list.find((i) => i.product.toLowerCase() === key);
    if (it) it.quantity = Math.max(0, quantity);
    else if (quantity > 0) list.push({ product, quantity });
    return list;
  });
}

async function editCart(change) {
  if (!canEdit()) return false;
  const id = hooks.sessionId;
  const version = hooks.cart.version;
  const list = change(cartItems().map((i) => ({ product: i.product, quantity: i.quantity })));
  busy = true;
  renderCart();
  try {
    const cart = await api.putCart(id, list, version);
    clearMessage();
    if (hooks.sessionId === id) applyCart(cart);
    return true;
  } catch (err) {
    if (err.status === 409) {
      await refreshCart();
      showMessage(hooks.cart && hooks.cart.confirmed
        ? 'The purchase is confirmed: the cart can no longer change.'
        : 'The cart changed meanwhile (a product was just counted). Check it and make your change again.', 'warning');
    } else if (err.status === 404) {
      sessionEnded();
    } else {
      showMessage(`The cart could not be changed: ${err.message}`);
    }
    return false;
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
    hideToast();
    if (hooks.sessionId === id) applyCart(cart);
    // The checkout is done: stop streaming, nothing more can be counted.
    if (whip || localStream) stop();
    sessionStorage.removeItem(STORE_CAMERA);
    const t = totals(cartItems());
    announce(`Purchase confirmed. Total ${money(t.cents)}`);
    ui.done.focus();
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
  for (const p of products) options.push(new Option(p.price_cents != null ? `${p.name} (${money(p.price_cents)})` : p.name, p.name));
  ui.addProduct.replaceChildren(...options);
  ui.addProduct.value = products.some((p) => p.name === current) ? current : '';
  renderCart();
}

async function loadStore() {
  try {
    store = { ...store, ...(await api.getStore()) };
  } catch { /* the defaults */ }
  hooks.store = store;
  money = api.moneyFormatter(store);
  renderCart();
}

// --- the counting area (staff) ---

function renderROI() {
  const n = roi.draft.length;
  const hasSession = Boolean(hooks.sessionId) && !sessionClosed;
  ui.roiSave.disabled = n < 3 || !hooks.staff;
  ui.roiReset.disabled = n === 0;
  ui.roiClear.disabled = !hasSession || !hooks.roi || !hooks.staff;
  const saved = hooks.roi ? `${hooks.roi.length} points` : 'whole frame';
  ui.roiStatus.textContent = n
    ? `Drawing: ${n} point${n === 1 ? '' : 's'}${n < 3 ? ` (${3 - n} more needed)` : ''} · saved area: ${saved}`
    : `Area: ${saved}`;
}

async function saveROI() {
  const points = roi.draft.slice();
  if (points.length < 3 || !hooks.staff) return;
  try {
    if (!hooks.sessionId || sessionClosed) {
      // No checkout yet: start one with this area; the camera or an upload joins it.
      if (sessionClosed) forgetSession();
      const s = await api.createSession(points, staffToken);
      attachSession(s.id, s);
    } else {
      applySession(await api.putROI(hooks.sessionId, points, staffToken));
    }
    roi.reset();
    clearMessage();
    announce('Counting area saved');
  } catch (err) {
    showMessage(`The counting area could not be saved: ${err.message}`);
  }
}

async function clearROI() {
  if (!hooks.sessionId || !hooks.staff) return;
  try {
    applySession(await api.deleteROI(hooks.sessionId, staffToken));
    clearMessage();
    announce('Counting area: whole frame');
  } catch (err) {
    showMessage(`The counting area could not be cleared: ${err.message}`);
  }
}

function applyPreset(name) {
  const points = PRESETS[name];
  if (points === null) {
    roi.reset();
    clearROI();
    return;
  }
  if (points) {
    roi.setDraft(points);
    announce(`${name} preset drawn: press Save area`);
  }
}

// --- uploads (staff) ---

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
ui.newCheckout.addEventListener('click', () => {
  resetCheckout();
  loadProducts(); // prices may have changed meanwhile
  ui.start.focus();
});
ui.endCheckout.addEventListener('click', endCheckout);
ui.undo.addEventListener('click', undoLastCount);
ui.roiSave.addEventListener('click', saveROI);
ui.roiClear.addEventListener('click', clearROI);
ui.roiReset.addEventListener('click', () => roi.undo());
for (const b of document.querySelectorAll('[data-preset]')) b.addEventListener('click', () => applyPreset(b.dataset.preset));
ui.uploadInput.addEventListener('change', () => uploadFile(ui.uploadInput.files && ui.uploadInput.files[0]));
ui.addForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.addProduct.value;
  if (!name) return;
  const inCart = cartItems().find((i) => i.product.toLowerCase() === name.toLowerCase());
  setQuantity(name, inCart ? inCart.quantity + 1 : 1);
  ui.addProduct.value = '';
});
ui.staffButton.addEventListener('click', () => {
  ui.staffError.hidden = true;
  ui.staffDialog.showModal();
  ui.staffToken.focus();
});
ui.staffCancel.addEventListener('click', () => ui.staffDialog.close());
ui.staffForm.addEventListener('submit', unlockStaff);
for (const r of ui.viewChoices) r.addEventListener('change', () => { if (r.checked) setViewMode(r.value); });
for (const type of ['loadedmetadata', 'resize']) {
  ui.preview.addEventListener(type, () => {
    if (roi.video === ui.preview) roi.redraw();
    drawAnnotation();
  });
}
if (globalThis.ResizeObserver) new ResizeObserver(() => drawAnnotation()).observe(ui.overlay);
ui.staffLock.addEventListener('click', () => {
  setStaff(null);
  announce('Staff mode off');
  ui.staffButton.focus();
});
// Leaving with products in the cart asks first (a reload keeps the cart, but a closed tab
// or another address would leave it behind).
window.addEventListener('beforeunload', (e) => {
  if (leaving || sessionClosed || !hooks.cart || hooks.cart.confirmed) return;
  if (cartItems().length === 0 && pendingReviews().length === 0) return;
  e.preventDefault();
  e.returnValue = '';
});
window.addEventListener('pagehide', () => {
  // The camera's connection ends with the page; the session stays for a reload to find it
  // (it ends when the shopper cancels or confirms, or after the idle timeout).
  if (whip) whip.close();
});

watchReturnedVideo();
setState('idle');
setEventsState('idle');
showStaff(null);
loadStore();
loadProducts();
restoreStaff();

// ?session=ID (or this tab's last checkout) follows an existing checkout: a reload, a second
// screen. When its camera was on, it reconnects.
const joinId = new URLSearchParams(location.search).get('session') || sessionStorage.getItem(STORE_SESSION);
if (joinId) {
  attachSession(joinId);
  if (sessionStorage.getItem(STORE_CAMERA) === 'on') start();
}
