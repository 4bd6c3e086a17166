// The ROI editor: a transparent canvas laid exactly over the video (or a still picture: an
// <img>). Clicks (or taps) add polygon points, normalised to the picture, not to the element:
// with object-fit the picture may be letterboxed (bars above and below, or at the sides), and
// points on the bars are clamped to the picture's edge. With { drag: true } the points are
// handles too: pressing one (within 22 px: a 44 px target) and moving drags it.

/**
 * contentBox(video, width, height) → {x, y, w, h}: where the picture is drawn inside an element
 * of width × height CSS pixels, following the element's object-fit (object-position is taken
 * to be the default, centred). Before the video (or image) has a size it is the whole element.
 */
export function contentBox(video, width, height) {
  const vw = video.videoWidth || video.naturalWidth;
  const vh = video.videoHeight || video.naturalHeight;
  if (!vw || !vh || !width || !height) return { x: 0, y: 0, w: width, h: height };
  const fit = (globalThis.getComputedStyle ? getComputedStyle(video).objectFit : video.objectFit) || 'fill';
  let scale;
  switch (fit) {
    case 'contain': scale = Math.min(width / vw, height / vh); break;
    case 'cover': scale = Math.max(width / vw, height / vh); break;
    case 'none': scale = 1; break;
    case 'scale-down': scale = Math.min(1, width / vw, height / vh); break;
    default: return { x: 0, y: 0, w: width, h: height }; // fill: stretched to the element
  }
  const w = vw * scale;
  const h = vh * scale;
  return { x: (width - w) / 2, y: (height - h) / 2, w, h };
}

/** toNormalised(px, py, box) → [x, y] in [0, 1], rounded to 4 decimals, clamped to the picture. */
export function toNormalised(px, py, box) {
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const round = (v) => Math.round(v * 10000) / 10000;
  return [round(clamp((px - box.x) / box.w)), round(clamp((py - box.y) / box.h))];
}

/** fromNormalised([x, y], box) → [px, py] in the element's CSS pixels. */
export function fromNormalised(p, box) {
  return [box.x + p[0] * box.w, box.y + p[1] * box.h];
}

/** How far from a point (CSS pixels) a press still takes it: a 44 px target. */
const HANDLE_REACH = 22;

/**
 * Sizes a canvas to its CSS box at the device's pixel ratio, clears it, and returns its
 * context scaled to CSS pixels with the box's width and height (null without a 2D context).
 */
export function clearCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const cw = c.clientWidth;
  const ch = c.clientHeight;
  if (c.width !== Math.round(cw * dpr) || c.height !== Math.round(ch * dpr)) {
    c.width = Math.round(cw * dpr);
    c.height = Math.round(ch * dpr);
  }
  const ctx = c.getContext('2d');
  if (!ctx) return null;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cw, ch);
  return { ctx, cw, ch };
}

export class RoiEditor {
  /**
   * canvas lies over video (a <video> or an <img>, same box); onChange(draftPoints) after every
   * edit of the drawing; drag: the drawing's points can be dragged.
   */
  constructor(canvas, video, { onChange, drag = false } = {}) {
    this.canvas = canvas;
    this.video = video;
    this.onChange = onChange;
    this.saved = null; // the session's ROI, [[x, y], ...] or null (whole frame)
    this.draft = []; // the polygon being drawn
    this.enabled = true;
    this.drag = drag;
    this.replace = false; // the next click starts a new drawing (the draft is a preset shown as is)
    this.pressedHandle = false; // the press that makes the coming click was on a point

    canvas.addEventListener('click', (e) => this.#click(e));
    if (drag) this.#handles(canvas);
    canvas.addEventListener('keydown', (e) => {
      if ((e.key === 'Backspace' || e.key === 'Delete') && this.draft.length) {
        e.preventDefault();
        this.undo();
      }
    });
    const redraw = () => this.redraw();
    if (globalThis.ResizeObserver) new ResizeObserver(redraw).observe(canvas);
    window.addEventListener('resize', redraw);
    video.addEventListener('loadedmetadata', redraw);
    video.addEventListener('resize', redraw); // the picture's size changed
    video.addEventListener('load', redraw); // an <img>
    this.redraw();
  }

  /** The picture's box in the canvas's CSS pixels. */
  box() {
    return contentBox(this.video, this.canvas.clientWidth, this.canvas.clientHeight);
  }

  #click(e) {
    if (!this.enabled) return;
    if (this.pressedHandle) {
      this.pressedHandle = false; // a point was dragged, or pressed: nothing to add
      return;
    }
    const r = this.canvas.getBoundingClientRect();
    if (this.replace) this.draft = [];
    this.replace = false;
    this.draft.push(toNormalised(e.clientX - r.left, e.clientY - r.top, this.box()));
    this.#changed();
  }

  /** The index of the drawing's point under the pointer event, -1 if none. */
  #hit(e) {
    const r = this.canvas.getBoundingClientRect();
    const box = this.box();
    let best = -1;
    let bestDist = HANDLE_REACH;
    this.draft.forEach((p, i) => {
      const [x, y] = fromNormalised(p, box);
      const d = Math.hypot(e.clientX - r.left - x, e.clientY - r.top - y);
      if (d <= bestDist) {
        best = i;
        bestDist = d;
      }
    });
    return best;
  }

  /** Dragging the drawing's points with a mouse, a finger or a pen. */
  #handles(canvas) {
    let held = null; // { index, id, x, y, moved }
    canvas.addEventListener('pointerdown', (e) => {
      this.pressedHandle = false;
      if (!this.enabled || e.button > 0) return;
      const index = this.#hit(e);
      if (index < 0) return;
      this.pressedHandle = true;
      held = { index, id: e.pointerId, x: e.clientX, y: e.clientY, moved: false };
      if (canvas.setPointerCapture) canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!held || e.pointerId !== held.id) return;
      if (!held.moved && Math.hypot(e.clientX - held.x, e.clientY - held.y) < 3) return;
      held.moved = true;
      const r = canvas.getBoundingClientRect();
      this.draft[held.index] = toNormalised(e.clientX - r.left, e.clientY - r.top, this.box());
      this.replace = false; // an edited preset is a drawing of its own
      this.#changed();
    });
    const release = (e) => {
      if (held && e.pointerId === held.id) held = null;
    };
    canvas.addEventListener('pointerup', release);
    canvas.addEventListener('pointercancel', release);
  }

  /** Sets the session's ROI (drawn solid); null: none. */
  setSaved(points) {
    this.saved = Array.isArray(points) && points.length >= 3 ? points.map((p) => [p[0], p[1]]) : null;
    this.redraw();
  }

  /** Adds a point of the drawing, in normalised coordinates. */
  addPoint(x, y) {
    this.draft.push([x, y]);
    this.#changed();
  }

  /**
   * Replaces the drawing with points (normalised), e.g. a preset; replace: the next click
   * starts a new drawing instead of adding to these (dragging a point keeps them).
   */
  setDraft(points, { replace = false } = {}) {
    this.draft = points.map((p) => [p[0], p[1]]);
    this.replace = replace;
    this.#changed();
  }

  undo() {
    this.draft.pop();
    this.replace = false;
    this.#changed();
  }

  reset() {
    this.draft = [];
    this.replace = false;
    this.#changed();
  }

  setEnabled(on) {
    this.enabled = on;
    this.canvas.classList.toggle('disabled', !on);
    this.redraw();
  }

  #changed() {
    this.redraw();
    if (this.onChange) this.onChange(this.draft.slice());
  }

  redraw() {
    const cleared = clearCanvas(this.canvas);
    if (!cleared) return;
    const { ctx, cw, ch } = cleared;
    const box = this.box();
    if (this.saved) {
      // A dark edge under a light line: visible on any picture.
      this.#polygon(ctx, this.saved, box, { stroke: 'rgba(0, 0, 0, 0.6)', fill: 'rgba(80, 220, 255, 0.10)', width: 5 });
      this.#polygon(ctx, this.saved, box, { stroke: 'rgba(80, 220, 255, 1)', fill: 'transparent', width: 2 });
    }
    if (this.draft.length) {
      this.#polygon(ctx, this.draft, box, { stroke: 'rgba(255, 200, 40, 1)', fill: 'rgba(255, 200, 40, 0.18)', width: 2, dash: [6, 4], open: this.draft.length < 3 });
      ctx.setLineDash([]);
      ctx.fillStyle = 'rgba(255, 200, 40, 1)';
      ctx.strokeStyle = 'rgba(0, 0, 0, 0.8)';
      ctx.lineWidth = 1.5;
      for (const p of this.draft) {
        const [x, y] = fromNormalised(p, box);
        ctx.beginPath();
        ctx.arc(x, y, this.drag ? 9 : 6, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
  }

  #polygon(ctx, pts, box, { stroke, fill, width, dash = [], open = false }) {
    ctx.setLineDash(dash);
    ctx.lineWidth = width;
    ctx.strokeStyle = stroke;
    ctx.fillStyle = fill;
    ctx.beginPath();
    pts.forEach((p, i) => {
      const [x, y] = fromNormalised(p, box);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    if (!open) {
      ctx.closePath();
      ctx.fill();
    }
    ctx.stroke();
  }
}
