// A small WHIP client (RFC 9725): one POST with the whole SDP offer (non-trickle: the offer
// carries every ICE candidate), the answer back in the 201, and DELETE on the resource's
// Location to end it. The same PeerConnection brings back the server's annotated video.

import { ApiError, errorFrom } from './api.js';

/** How long to wait for ICE gathering before sending the candidates found so far. */
const GATHER_TIMEOUT_MS = 5000;

export class WhipClient {
  /**
   * options: iceServers (none by default: the server is on the local network),
   * onState(connectionState) for the PeerConnection's state changes,
   * onTrack(track, remoteStream) when the return video arrives, navigate(url) to open the
   * page on a server with room when this one is full (default: location.assign).
   */
  constructor({ iceServers = [], onState, onTrack, navigate = (url) => window.location.assign(url) } = {}) {
    this.iceServers = iceServers;
    this.navigate = navigate;
    this.onState = onState;
    this.onTrack = onTrack;
    this.pc = null;
    this.location = null;
    this.sessionId = null;
    this.remoteStream = null;
  }

  /**
   * connect(pipeline, stream, {session}) → {pc, sessionId, location, remoteStream}.
   * Sends stream's video (sendrecv: the annotated video comes back on the same transceiver);
   * session joins an existing checkout session.
   */
  async connect(pipeline, stream, { session, signal } = {}) {
    if (this.pc) throw new Error('already connected: close() first');
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    const remoteStream = new MediaStream();
    this.remoteStream = remoteStream;
    pc.addEventListener('track', (e) => {
      for (const t of remoteStream.getTracks()) {
        if (t.kind === e.track.kind && t !== e.track) remoteStream.removeTrack(t);
      }
      if (!remoteStream.getTracks().includes(e.track)) remoteStream.addTrack(e.track);
      if (this.onTrack) this.onTrack(e.track, remoteStream);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this.pc === pc && this.onState) this.onState(pc.connectionState);
    });

    try {
      const tracks = stream ? stream.getVideoTracks() : [];
      if (tracks.length) {
        for (const track of tracks) {
          // Recognition needs detail more than smooth motion: when the browser is short of
          // CPU or bandwidth it should drop frames, not resolution.
          if ('contentHint' in track) track.contentHint = 'detail';
          const tr = pc.addTransceiver(track, {
            direction: 'sendrecv', streams: [stream],
            sendEncodings: [{ maxBitrate: 2500000 }],
          });
          try {
            const params = tr.sender.getParameters();
            params.degradationPreference = 'maintain-resolution';
            await tr.sender.setParameters(params);
          } catch (_) { /* older browsers: the content hint still applies */ }
        }
      } else {
        pc.addTransceiver('video', { direction: 'recvonly' });
      }
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringComplete(pc, GATHER_TIMEOUT_MS);

      let url = `/whip/${encodeURIComponent(pipeline)}`;
      if (session) url += `?session=${encodeURIComponent(session)}`;
      let res;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
          body: pc.localDescription.sdp,
          signal,
          cache: 'no-store',
          // A full server redirects (307) the offer to a server with room. fetch cannot follow
          // it there: that server is another origin, which this page's Content-Security-Policy
          // (connect-src 'self') and the session's same-site cookie keep out. The page moves
          // there instead (moveToNodeWithRoom).
          redirect: 'manual',
        });
      } catch (err) {
        if (err && err.name === 'AbortError') throw err;
        throw new ApiError('The server could not be reached.', 0);
      }
      if (res.type === 'opaqueredirect') throw await this.moveToNodeWithRoom();
      if (!res.ok) throw await errorFrom(res);
      const loc = res.headers.get('Location');
      this.location = loc ? new URL(loc, res.url || window.location.href).pathname : null;
      this.sessionId = res.headers.get('X-Ebrcs-Session');
      const answer = await res.text();
      if (this.pc !== pc) throw new Error('closed while connecting');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (err) {
      await this.close();
      throw err;
    }
    return { pc, sessionId: this.sessionId, location: this.location, remoteStream };
  }

  /**
   * The server sent the offer to another server with room (a redirect whose target a page
   * cannot read): finds a server with room in /api/nodes and opens this page there (options:
   * navigate(url), by default location.assign). Returns the error to throw meanwhile.
   */
  async moveToNodeWithRoom() {
    let nodes = [];
    try {
      const res = await fetch('/api/nodes', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (res.ok) nodes = await res.json();
    } catch (_) { /* no list: the error below says so */ }
    const fullness = (n) => Math.max(n.load.max_sessions ? n.load.sessions / n.load.max_sessions : 0,
      n.load.max_publishers ? n.load.publishers / n.load.max_publishers : 0);
    const room = nodes.filter((n) => !n.self && n.present && n.url && n.load && n.load.room)
      .sort((a, b) => fullness(a) - fullness(b));
    if (!room.length) return new ApiError('This checkout server is full; try again in a moment.', 503);
    const target = new URL(window.location.pathname + window.location.search + window.location.hash, room[0].url);
    this.navigate(target.href);
    return new ApiError(`This checkout server is full: continuing on ${room[0].name}…`, 307, '', { moved: target.href });
  }

  /** Ends the WHIP resource (DELETE) and closes the PeerConnection. Safe to call twice. */
  async close() {
    const pc = this.pc;
    const loc = this.location;
    this.pc = null;
    this.location = null;
    if (pc) pc.close();
    if (loc) {
      // keepalive: the DELETE still goes out when the page is being closed.
      await fetch(loc, { method: 'DELETE', keepalive: true }).catch(() => {});
    }
  }
}

/** Resolves when ICE gathering is complete, or after timeoutMs with what was gathered. */
export function gatheringComplete(pc, timeoutMs) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}
