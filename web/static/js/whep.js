// A small WHEP viewer (RFC 9725's sibling for playback): one POST with a receive-only offer,
// the answer back in the 201, DELETE on the resource's Location to stop. Staff watch the
// cameras of stations and live checkouts with it (the token is staff's).

import { errorFrom } from './api.js';
import { gatheringComplete } from './whip.js';

const GATHER_TIMEOUT_MS = 3000;

export class WhepViewer {
  /** video: the <video> to play into; token: staff's (a station's video is staff's only). */
  constructor(video, token) {
    this.video = video;
    this.token = token;
    this.pc = null;
    this.location = null;
    this.onState = null;
  }

  /** start(sessionId) → resolves once the answer is set; the video follows when it arrives. */
  async start(sessionId) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addEventListener('track', (e) => {
      const stream = e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]);
      if (this.video.srcObject !== stream) this.video.srcObject = stream;
      this.video.play().catch(() => { /* muted autoplay is allowed */ });
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this.pc === pc && this.onState) this.onState(pc.connectionState);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc, GATHER_TIMEOUT_MS);
    const res = await fetch(`/whep/${encodeURIComponent(sessionId)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp', Authorization: `Bearer ${this.token}` },
      body: pc.localDescription.sdp,
      cache: 'no-store',
    });
    if (!res.ok) {
      this.close();
      throw await errorFrom(res);
    }
    this.location = res.headers.get('Location');
    const answer = await res.text();
    if (this.pc !== pc) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  /** Stops watching: closes the connection and ends the resource. Safe to call twice. */
  close() {
    const pc = this.pc;
    const loc = this.location;
    this.pc = null;
    this.location = null;
    if (pc) pc.close();
    this.video.srcObject = null;
    if (loc) {
      fetch(loc, { method: 'DELETE', keepalive: true, headers: { Authorization: `Bearer ${this.token}` } }).catch(() => {});
    }
  }
}
