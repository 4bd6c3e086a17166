// Fetch wrappers for the EBRCS API. Every failed request becomes an ApiError carrying the
// HTTP status and, when the server names one, the bad field (errors are {"error", "field"}).

/** An API failure: message from the server, HTTP status (0: no answer), field (may be ""). */
export class ApiError extends Error {
  constructor(message, status = 0, field = '', body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.field = field || '';
    this.body = body;
  }
}

/** Builds the ApiError for a response that is not ok. */
export async function errorFrom(res) {
  const text = await res.text().catch(() => '');
  return errorFromText(res.status, res.statusText, text);
}

function errorFromText(status, statusText, text) {
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (body && typeof body === 'object' && typeof body.error === 'string') {
    return new ApiError(body.error, status, body.field || '', body);
  }
  const msg = text && text.length < 300 ? text.trim() : `${status} ${statusText || 'error'}`;
  return new ApiError(msg || `HTTP ${status}`, status, '', body);
}

/**
 * request(method, url, options) → parsed JSON, text (non-JSON answers) or null (204).
 * options: json (sent as JSON), body (sent as is: FormData, string, Blob), headers,
 * token (admin bearer token), signal.
 */
export async function request(method, url, { json, body, headers = {}, token, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (json !== undefined) {
    h['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  if (token) h.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(url, { method, headers: h, body, signal, cache: 'no-store' });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(`The server could not be reached (${err && err.message ? err.message : err}).`, 0);
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) return res.json();
  return res.text();
}

const enc = encodeURIComponent;

// The store's settings (currency, locale, require_prices, vibrate): public.
export const getStore = () => request('GET', '/api/store');
/** whoami(token) → {role: "admin" | "staff", may: [...]}; an ApiError says what is wrong with the token. */
export const whoami = (token) => request('GET', '/api/whoami', { token });

// The admin's named tokens (admin only): listed without their secrets; a new one's token is
// in createToken's answer only.
export const listTokens = (token) => request('GET', '/api/tokens', { token });
/** createToken({name, role}, token) → {id, name, role, created, last_used, token}. */
export const createToken = (body, token) => request('POST', '/api/tokens', { json: body, token });
export const revokeToken = (id, token) => request('DELETE', `/api/tokens/${enc(id)}`, { token });

// Checkout sessions. The counting area (ROI) is staff's: those calls take staff's token.
export const createSession = (roi, token) => request('POST', '/api/sessions', roi ? { json: { roi: { points: roi } }, token } : { token });
export const getSession = (id) => request('GET', `/api/sessions/${enc(id)}`);
export const deleteSession = (id) => request('DELETE', `/api/sessions/${enc(id)}`);
export const putROI = (id, points, token) => request('PUT', `/api/sessions/${enc(id)}/roi`, { json: { points }, token });
export const deleteROI = (id, token) => request('DELETE', `/api/sessions/${enc(id)}/roi`, { token });
export const getCart = (id) => request('GET', `/api/sessions/${enc(id)}/cart`);
export const putCart = (id, items, version) => request('PUT', `/api/sessions/${enc(id)}/cart`, { json: { items, version } });
export const confirmCart = (id) => request('POST', `/api/sessions/${enc(id)}/cart/confirm`);
export const sessionEventsURL = (id) => `/api/sessions/${enc(id)}/events`;
/** answerReview(id, reviewId, {product_id} | {none: true}, token) → {review, product, none, quantity, cart, learned}. */
export const answerReview = (id, review, answer, token) =>
  request('POST', `/api/sessions/${enc(id)}/reviews/${enc(review)}`, { json: answer, token });
export const taskEventsURL = (id) => `/api/tasks/${enc(id)}/events`;

/**
 * uploadVideo(sessionId, file, onProgress) → the task (202). XMLHttpRequest rather than fetch,
 * for the upload's own progress: onProgress(fraction 0..1) while the bytes are sent.
 */
export function uploadVideo(id, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/sessions/${enc(id)}/video`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'text';
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
      });
    }
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { resolve(JSON.parse(xhr.responseText)); } catch { reject(new ApiError('The server sent an unreadable answer.', xhr.status)); }
        return;
      }
      reject(errorFromText(xhr.status, xhr.statusText, xhr.responseText));
    });
    xhr.addEventListener('error', () => reject(new ApiError('The upload failed: the server could not be reached.', 0)));
    xhr.addEventListener('abort', () => reject(new ApiError('The upload was cancelled.', 0)));
    const form = new FormData();
    form.append('video', file, file.name || 'video');
    xhr.send(form);
  });
}

// Catalog (admin requests need the token).
export const listProducts = () => request('GET', '/api/products');
export const createProduct = (form, token) => request('POST', '/api/products', { body: form, token });
export const deleteProduct = (id, token) => request('DELETE', `/api/products/${enc(id)}`, { token });
export const productImageURL = (id, n = 1) => `/api/products/${enc(id)}/images/${n}`;
/** addProductImages(id, form with "images" files, token) → the product, recognised by them at once. */
export const addProductImages = (id, form, token) => request('POST', `/api/products/${enc(id)}/images`, { body: form, token });
/** removeProductImage(id, n, token) → the product; photo n no longer matches, those after it move down. */
export const removeProductImage = (id, n, token) => request('DELETE', `/api/products/${enc(id)}/images/${enc(n)}`, { token });
export const listViews = (id, token) => request('GET', `/api/products/${enc(id)}/views`, { token });
export const deleteView = (id, view, token) => request('DELETE', `/api/products/${enc(id)}/views/${enc(view)}`, { token });
export const viewImageURL = (id, view) => `/api/products/${enc(id)}/views/${enc(view)}/image`;

// Reviews waiting for an answer, in every session and station (staff).
export const listReviews = (token) => request('GET', '/api/reviews', { token });

/**
 * imageBlobURL(url, token) → an object URL of an image that needs the admin token (an <img>
 * cannot send it). The caller revokes it.
 */
export async function imageBlobURL(url, token) {
  let res;
  try {
    res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(`The server could not be reached (${err && err.message ? err.message : err}).`, 0);
  }
  if (!res.ok) throw await errorFrom(res);
  return URL.createObjectURL(await res.blob());
}

// Pipelines.
export const listPipelines = () => request('GET', '/api/pipelines');
// With the admin token the YAML comes with camera credentials; without, they are hidden.
export const getPipelineYAML = (name, token) =>
  request('GET', `/api/pipelines/${enc(name)}`, { token, headers: { Accept: 'application/yaml, text/plain, */*' } });
export const putPipelineYAML = (name, yaml, token) =>
  request('PUT', `/api/pipelines/${enc(name)}`, { body: yaml, token, headers: { 'Content-Type': 'application/yaml' } });

/**
 * cameraSnapshot({url, username, password, transport}, token, signal) → an object URL of one
 * JPEG frame of the camera (the caller revokes it); an ApiError names the field to fix.
 */
export async function cameraSnapshot(camera, token, signal) {
  let res;
  try {
    res = await fetch('/api/stations/snapshot', {
      method: 'POST', body: JSON.stringify(camera), signal, cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'image/jpeg, application/json', Authorization: `Bearer ${token}` },
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(`The server could not be reached (${err && err.message ? err.message : err}).`, 0);
  }
  if (!res.ok) throw await errorFrom(res);
  return URL.createObjectURL(await res.blob());
}

/** Formats a price in cents ("2.49"), or "" when unknown. */
export function formatPrice(cents) {
  if (cents === null || cents === undefined || !Number.isFinite(cents)) return '';
  return (cents / 100).toFixed(2);
}

/**
 * moneyFormatter(store) → cents => "4,98 €": the store's currency in its locale (Intl), falling
 * back to plain decimals when the browser does not know either.
 */
export function moneyFormatter(store) {
  let nf = null;
  try {
    nf = new Intl.NumberFormat(store.locale || undefined, { style: 'currency', currency: store.currency || 'USD' });
  } catch { /* an unknown locale or currency */ }
  return (cents) => {
    if (cents === null || cents === undefined || !Number.isFinite(cents)) return '';
    return nf ? nf.format(cents / 100) : `${formatPrice(cents)} ${store.currency || ''}`.trim();
  };
}
