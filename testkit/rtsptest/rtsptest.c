/* The C half of package rtsptest.
 *
 * Threads: each server owns a GMainContext and a GThread running a GMainLoop on it. The
 * listening socket's GSource and every client connection (the thread pool has max-threads 0,
 * so clients are not moved to pool threads) are dispatched there. gst-rtsp-server gives each
 * media pipeline a thread of its own for the bus; streaming threads are GStreamer's.
 *
 * Taps: for every payloader "payN" of a media, the source pad feeding it (its peer) gets a
 * "tap", kept as qdata on that pad:
 *   - Stall: a blocking buffer probe. The streaming thread waits in the probe, so nothing
 *     leaves the payloader while the RTSP connection, RTCP and keep-alives go on. On release
 *     the pad offset grows by the time spent stalled, so the running time of the following
 *     buffers is "now" again: the sinks keep pacing in real time and the RTP timestamps jump
 *     forward like a camera that froze. The very first buffer of a media is let through so
 *     that a media created while stalled can still preroll and answer DESCRIBE.
 *   - Loop: the EOS reaching the tap is dropped and a flushing seek to 0 is sent upstream
 *     from another thread (gst_element_call_async). The flush events it causes are dropped
 *     at the tap, and the new segment is rewritten so that its running time continues where
 *     the previous pass ended: downstream (payloader, rtpbin, sinks) sees one endless stream.
 *     The tap also makes that stream look endless to the media: open segment stop, no
 *     duration, not seekable; so the SDP and PLAY ranges read "npt=0-" (clients clip what
 *     lies past a range's end) and a client's PLAY Range never seeks the pipeline.
 */
#include "rtsptest.h"

#include <string.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

GST_DEBUG_CATEGORY_STATIC (rtsptest_debug);
#define GST_CAT_DEFAULT rtsptest_debug

#define ROLE "rtsptest-user"

struct _RtsptestServer
{
  gint refcount;

  GMutex lock;
  gboolean stopped;             /* protected by lock */
  gboolean stalled;             /* protected by lock */
  GList *medias;                /* MediaRec*, protected by lock */
  gboolean loop;                /* read-only after start */

  GMainContext *ctx;
  GMainLoop *mainloop;
  GThread *thread;

  GstRTSPServer *server;
  GstRTSPMediaFactory *factory;
  GSocket *socket;
  GSource *source;
  gchar *path;
  int port;
};

typedef struct
{
  GstRTSPMedia *media;
  GList *pads;                  /* tapped pads, one ref each */
} MediaRec;

typedef struct
{
  GMutex lock;
  gboolean loop;                /* protected by lock */
  gboolean looping;             /* a loop seek is in flight, protected by lock */
  gboolean first_passed;        /* protected by lock */
  GstSegment seg;               /* last segment that went out, protected by lock */
  GstClockTime in_stop;         /* its stop as it came in, protected by lock */
  GstClockTime max_end;         /* largest buffer end in seg, protected by lock */

  /* protected by the server lock */
  gulong block_id;
  gint64 stall_start_us;
} Tap;

static GQuark tap_quark;

static RtsptestServer *
server_ref (RtsptestServer * s)
{
  g_atomic_int_inc (&s->refcount);
  return s;
}

static void
server_unref (gpointer data)
{
  RtsptestServer *s = data;

  if (!g_atomic_int_dec_and_test (&s->refcount))
    return;
  g_mutex_clear (&s->lock);
  g_free (s->path);
  g_free (s);
}

static void
server_unref_closure (gpointer data, GClosure * closure)
{
  (void) closure;
  server_unref (data);
}

/* ---------------------------------------------------------------- taps */

static void
tap_free (gpointer data)
{
  Tap *t = data;

  g_mutex_clear (&t->lock);
  g_free (t);
}

static GstPadProbeReturn
tap_block_cb (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Tap *t = user_data;
  gboolean first;

  (void) pad;
  (void) info;
  g_mutex_lock (&t->lock);
  first = !t->first_passed;
  g_mutex_unlock (&t->lock);
  /* PASS lets this one buffer through and keeps blocking; OK keeps the pad blocked. */
  return first ? GST_PAD_PROBE_PASS : GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
tap_buffer_cb (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Tap *t = user_data;
  GstBuffer *buf = NULL;
  GstClockTime ts, end;

  (void) pad;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    buf = GST_PAD_PROBE_INFO_BUFFER (info);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    guint n = gst_buffer_list_length (list);
    if (n > 0)
      buf = gst_buffer_list_get (list, n - 1);
  }

  g_mutex_lock (&t->lock);
  t->first_passed = TRUE;
  if (buf != NULL) {
    ts = GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : GST_BUFFER_DTS (buf);
    if (GST_CLOCK_TIME_IS_VALID (ts)) {
      end = ts;
      if (GST_BUFFER_DURATION_IS_VALID (buf))
        end += GST_BUFFER_DURATION (buf);
      if (!GST_CLOCK_TIME_IS_VALID (t->max_end) || end > t->max_end)
        t->max_end = end;
    }
  }
  g_mutex_unlock (&t->lock);
  return GST_PAD_PROBE_OK;
}

/* tap_loop_seek runs on a GStreamer helper thread, never on the streaming thread. */
static void
tap_loop_seek (GstElement * element, gpointer user_data)
{
  GstPad *pad = user_data;
  Tap *t = g_object_get_qdata (G_OBJECT (pad), tap_quark);
  GstEvent *seek;
  GstPad *peer;

  (void) element;
  seek = gst_event_new_seek (1.0, GST_FORMAT_TIME, GST_SEEK_FLAG_FLUSH,
      GST_SEEK_TYPE_SET, 0, GST_SEEK_TYPE_NONE, GST_CLOCK_TIME_NONE);
  if (gst_pad_send_event (pad, seek))
    return;

  GST_WARNING_OBJECT (pad, "loop seek refused; letting the stream end");
  if (t != NULL) {
    g_mutex_lock (&t->lock);
    t->loop = FALSE;
    t->looping = FALSE;
    g_mutex_unlock (&t->lock);
  }
  /* The tapped pad already holds the EOS that was dropped; give it to downstream directly. */
  peer = gst_pad_get_peer (pad);
  if (peer != NULL) {
    gst_pad_send_event (peer, gst_event_new_eos ());
    gst_object_unref (peer);
  }
}

static GstPadProbeReturn
tap_event_cb (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Tap *t = user_data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstPadProbeReturn ret = GST_PAD_PROBE_OK;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&t->lock);
      if (t->looping)
        ret = GST_PAD_PROBE_DROP;
      g_mutex_unlock (&t->lock);
      break;

    case GST_EVENT_SEGMENT:{
      const GstSegment *in;
      GstSegment out;
      gboolean rewrite = FALSE;

      gst_event_parse_segment (event, &in);
      gst_segment_copy_into (in, &out);
      g_mutex_lock (&t->lock);
      if (t->loop && out.format == GST_FORMAT_TIME) {
        /* endless: nothing downstream may clip at the file's end */
        out.stop = GST_CLOCK_TIME_NONE;
        out.duration = GST_CLOCK_TIME_NONE;
        rewrite = TRUE;
      }
      if (t->looping && out.format == GST_FORMAT_TIME
          && t->seg.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (t->max_end)) {
        GstClockTime end = t->max_end;
        guint64 rt;

        if (GST_CLOCK_TIME_IS_VALID (t->in_stop) && end > t->in_stop)
          end = t->in_stop;
        if (end < t->seg.start)
          end = t->seg.start;
        rt = gst_segment_to_running_time (&t->seg, GST_FORMAT_TIME, end);
        if (rt != GST_CLOCK_TIME_NONE) {
          /* the new pass starts where the previous one ended, in running time */
          out.base = rt;
          GST_DEBUG_OBJECT (pad, "looped, running time continues at %" GST_TIME_FORMAT,
              GST_TIME_ARGS (out.base));
        }
      }
      if (rewrite) {
        GstEvent *rewritten = gst_event_new_segment (&out);

        gst_event_set_seqnum (rewritten, gst_event_get_seqnum (event));
        gst_event_unref (event);
        GST_PAD_PROBE_INFO_DATA (info) = rewritten;
      }
      gst_segment_copy_into (&out, &t->seg);
      t->in_stop = in->stop;
      t->looping = FALSE;
      t->max_end = GST_CLOCK_TIME_NONE;
      g_mutex_unlock (&t->lock);
      break;
    }

    case GST_EVENT_EOS:{
      GstElement *parent = NULL;

      g_mutex_lock (&t->lock);
      if (t->loop && !t->looping && t->seg.format == GST_FORMAT_TIME)
        parent = gst_pad_get_parent_element (pad);
      if (parent != NULL) {
        t->looping = TRUE;
        ret = GST_PAD_PROBE_DROP;
      }
      g_mutex_unlock (&t->lock);
      if (parent != NULL) {
        gst_element_call_async (parent, tap_loop_seek, gst_object_ref (pad),
            gst_object_unref);
        gst_object_unref (parent);
      }
      break;
    }

    default:
      break;
  }
  return ret;
}

/* tap_query_cb makes a looping stream look endless and not seekable to the media, so the SDP
 * and PLAY ranges are open ("npt=0-"): clients clip everything after a range's end. It edits
 * the answers on their way back (the PULL half of the query probe). */
static GstPadProbeReturn
tap_query_cb (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
  GstFormat format;
  gint64 start;
  gdouble rate;

  (void) pad;
  (void) user_data;
  if (!(info->type & GST_PAD_PROBE_TYPE_PULL))
    return GST_PAD_PROBE_OK;
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_DURATION:
      gst_query_parse_duration (query, &format, NULL);
      gst_query_set_duration (query, format, -1);
      break;
    case GST_QUERY_SEEKING:
      gst_query_parse_seeking (query, &format, NULL, NULL, NULL);
      gst_query_set_seeking (query, format, FALSE, 0, -1);
      break;
    case GST_QUERY_SEGMENT:
      gst_query_parse_segment (query, &rate, &format, &start, NULL);
      gst_query_set_segment (query, rate, format, start, -1);
      break;
    default:
      break;
  }
  return GST_PAD_PROBE_OK;
}

/* tap_stall must be called with the server lock held. */
static void
tap_stall (GstPad * pad, Tap * t, gboolean on)
{
  if (on && t->block_id == 0) {
    t->stall_start_us = g_get_monotonic_time ();
    t->block_id = gst_pad_add_probe (pad,
        GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER |
        GST_PAD_PROBE_TYPE_BUFFER_LIST, tap_block_cb, t, NULL);
  } else if (!on && t->block_id != 0) {
    gint64 stalled_ns = (g_get_monotonic_time () - t->stall_start_us) * 1000;

    /* Shift the running time first, so the released buffers are not all late. */
    gst_pad_set_offset (pad, gst_pad_get_offset (pad) + stalled_ns);
    gst_pad_remove_probe (pad, t->block_id);
    t->block_id = 0;
  }
}

static MediaRec *
find_rec (RtsptestServer * s, GstRTSPMedia * media)
{
  GList *l;

  for (l = s->medias; l != NULL; l = l->next) {
    MediaRec *rec = l->data;
    if (rec->media == media)
      return rec;
  }
  return NULL;
}

static void
add_tap (RtsptestServer * s, GstRTSPMedia * media, GstPad * pad)
{
  MediaRec *rec;
  Tap *t;

  g_mutex_lock (&s->lock);
  rec = find_rec (s, media);
  if (rec == NULL || s->stopped
      || g_object_get_qdata (G_OBJECT (pad), tap_quark) != NULL) {
    g_mutex_unlock (&s->lock);
    return;
  }
  t = g_new0 (Tap, 1);
  g_mutex_init (&t->lock);
  t->loop = s->loop;
  t->max_end = GST_CLOCK_TIME_NONE;
  t->in_stop = GST_CLOCK_TIME_NONE;
  gst_segment_init (&t->seg, GST_FORMAT_UNDEFINED);
  g_object_set_qdata_full (G_OBJECT (pad), tap_quark, t, tap_free);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
      tap_buffer_cb, t, NULL);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM |
      GST_PAD_PROBE_TYPE_EVENT_FLUSH, tap_event_cb, t, NULL);
  if (t->loop)
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_UPSTREAM | GST_PAD_PROBE_TYPE_PULL,
        tap_query_cb, NULL, NULL);
  rec->pads = g_list_prepend (rec->pads, gst_object_ref (pad));
  if (s->stalled)
    tap_stall (pad, t, TRUE);
  g_mutex_unlock (&s->lock);
  GST_DEBUG_OBJECT (pad, "tapped");
}

/* ---------------------------------------------------------------- medias */

typedef struct
{
  RtsptestServer *s;            /* one ref */
  GstRTSPMedia *media;          /* lookup key only, no ref */
} LinkCtx;

static void
link_ctx_free (gpointer data, GClosure * closure)
{
  LinkCtx *lc = data;

  (void) closure;
  server_unref (lc->s);
  g_free (lc);
}

static void
on_pay_linked (GstPad * sinkpad, GstPad * peer, gpointer user_data)
{
  LinkCtx *lc = user_data;

  (void) sinkpad;
  add_tap (lc->s, lc->media, peer);
}

static void
rec_free (MediaRec * rec)
{
  g_list_free_full (rec->pads, gst_object_unref);
  g_object_unref (rec->media);
  g_free (rec);
}

static void
on_unprepared (GstRTSPMedia * media, gpointer user_data)
{
  RtsptestServer *s = user_data;
  MediaRec *rec;

  g_mutex_lock (&s->lock);
  rec = find_rec (s, media);
  if (rec != NULL)
    s->medias = g_list_remove (s->medias, rec);
  g_mutex_unlock (&s->lock);
  if (rec != NULL)
    rec_free (rec);
}

static void
on_media_configure (GstRTSPMediaFactory * factory, GstRTSPMedia * media,
    gpointer user_data)
{
  RtsptestServer *s = user_data;
  GstElement *element;
  MediaRec *rec;
  int i;

  (void) factory;
  g_mutex_lock (&s->lock);
  if (s->stopped) {
    g_mutex_unlock (&s->lock);
    return;
  }
  rec = g_new0 (MediaRec, 1);
  rec->media = g_object_ref (media);
  s->medias = g_list_prepend (s->medias, rec);
  g_mutex_unlock (&s->lock);

  g_signal_connect_data (media, "unprepared", G_CALLBACK (on_unprepared),
      server_ref (s), server_unref_closure, 0);

  element = gst_rtsp_media_get_element (media);
  for (i = 0; GST_IS_BIN (element); i++) {
    gchar *name = g_strdup_printf ("pay%d", i);
    GstElement *pay = gst_bin_get_by_name (GST_BIN (element), name);
    GstPad *sinkpad, *peer;

    g_free (name);
    if (pay == NULL)
      break;
    sinkpad = gst_element_get_static_pad (pay, "sink");
    if (sinkpad != NULL) {
      peer = gst_pad_get_peer (sinkpad);
      if (peer != NULL) {
        add_tap (s, media, peer);
        gst_object_unref (peer);
      } else {
        /* linked later, e.g. straight from a demuxer's dynamic pad */
        LinkCtx *lc = g_new0 (LinkCtx, 1);
        lc->s = server_ref (s);
        lc->media = media;
        g_signal_connect_data (sinkpad, "linked", G_CALLBACK (on_pay_linked), lc,
            link_ctx_free, 0);
      }
      gst_object_unref (sinkpad);
    }
    gst_object_unref (pay);
  }
  gst_object_unref (element);
}

/* ---------------------------------------------------------------- main loop */

static gpointer
loop_thread (gpointer data)
{
  RtsptestServer *s = data;

  g_main_context_push_thread_default (s->ctx);
  g_main_loop_run (s->mainloop);
  g_main_context_pop_thread_default (s->ctx);
  return NULL;
}

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
  GSourceFunc func;
  gpointer data;
} SyncCall;

static gboolean
sync_call_cb (gpointer data)
{
  SyncCall *c = data;

  c->func (c->data);
  g_mutex_lock (&c->lock);
  c->done = TRUE;
  g_cond_signal (&c->cond);
  g_mutex_unlock (&c->lock);
  return G_SOURCE_REMOVE;
}

/* invoke_sync runs func on the server's main loop thread and waits for it. */
static void
invoke_sync (RtsptestServer * s, GSourceFunc func, gpointer data)
{
  SyncCall c;
  GSource *src;

  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  c.done = FALSE;
  c.func = func;
  c.data = data;
  src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_HIGH);
  g_source_set_callback (src, sync_call_cb, &c, NULL);
  g_source_attach (src, s->ctx);
  g_source_unref (src);
  g_mutex_lock (&c.lock);
  while (!c.done)
    g_cond_wait (&c.cond, &c.lock);
  g_mutex_unlock (&c.lock);
  g_mutex_clear (&c.lock);
  g_cond_clear (&c.cond);
}

/* ---------------------------------------------------------------- start */

static void
init_once (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    gst_init (NULL, NULL);
    GST_DEBUG_CATEGORY_INIT (rtsptest_debug, "rtsptest", 0, "EBRCS RTSP test server");
    tap_quark = g_quark_from_static_string ("ebrcs-rtsptest-tap");
    g_once_init_leave (&done, 1);
  }
}

static void
configure_auth (RtsptestServer * s, const char *user, const char *password)
{
  GstRTSPAuth *auth = gst_rtsp_auth_new ();
  GstRTSPToken *token = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE,
      G_TYPE_STRING, ROLE, NULL);
  gchar *basic = gst_rtsp_auth_make_basic (user, password);

  gst_rtsp_auth_add_basic (auth, basic, token);
  gst_rtsp_auth_add_digest (auth, user, password, token);
  gst_rtsp_auth_set_supported_methods (auth, GST_RTSP_AUTH_BASIC | GST_RTSP_AUTH_DIGEST);
  g_free (basic);
  gst_rtsp_token_unref (token);
  gst_rtsp_server_set_auth (s->server, auth);
  g_object_unref (auth);

  /* no default token: an anonymous request gets 401 */
  gst_rtsp_media_factory_add_role (s->factory, ROLE,
      GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
      GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE, NULL);
}

RtsptestServer *
rtsptest_server_start (const char *launch, const char *path, int port,
    gboolean shared, const char *user, const char *password, gboolean loop, char **err)
{
  RtsptestServer *s;
  GstRTSPMountPoints *mounts;
  GstRTSPThreadPool *pool;
  GSocketAddress *addr;
  GError *gerr = NULL;
  gchar *service;

  init_once ();

  /* gst-rtsp-server parses the launch line only when a client asks for it: parse it once
   * now (creating elements, opening nothing) so that a typo fails Start, not the client. */
  {
    GstElement *parsed = gst_parse_launch (launch, &gerr);

    if (parsed != NULL)
      gst_object_unref (parsed);
    if (parsed == NULL || gerr != NULL) {
      *err = g_strdup_printf ("launch line %s: %s", launch,
          gerr != NULL ? gerr->message : "does not parse");
      g_clear_error (&gerr);
      return NULL;
    }
  }

  s = g_new0 (RtsptestServer, 1);
  s->refcount = 1;
  g_mutex_init (&s->lock);
  s->loop = loop;
  s->path = g_strdup (path);

  s->server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (s->server, "127.0.0.1");
  service = g_strdup_printf ("%d", port);
  gst_rtsp_server_set_service (s->server, service);
  g_free (service);

  /* clients are handled on this server's own main loop thread */
  pool = gst_rtsp_server_get_thread_pool (s->server);
  gst_rtsp_thread_pool_set_max_threads (pool, 0);
  g_object_unref (pool);

  s->factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (s->factory, launch);
  gst_rtsp_media_factory_set_shared (s->factory, shared);
  g_signal_connect_data (s->factory, "media-configure", G_CALLBACK (on_media_configure),
      server_ref (s), server_unref_closure, 0);
  if (user != NULL && user[0] != '\0')
    configure_auth (s, user, password != NULL ? password : "");

  mounts = gst_rtsp_server_get_mount_points (s->server);
  gst_rtsp_mount_points_add_factory (mounts, path, g_object_ref (s->factory));
  g_object_unref (mounts);

  /* gst_rtsp_server_create_socket binds with SO_REUSEADDR. The socket is kept here (not
   * only inside the server) so that Stop can close it at once. */
  s->socket = gst_rtsp_server_create_socket (s->server, NULL, &gerr);
  if (s->socket == NULL) {
    *err = g_strdup_printf ("listen on 127.0.0.1:%d: %s", port,
        gerr != NULL ? gerr->message : "unknown error");
    g_clear_error (&gerr);
    g_signal_handlers_disconnect_by_func (s->factory, on_media_configure, s);
    g_object_unref (s->factory);
    g_object_unref (s->server);
    server_unref (s);
    return NULL;
  }
  addr = g_socket_get_local_address (s->socket, NULL);
  if (addr != NULL) {
    s->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (addr));
    g_object_unref (addr);
  }

  s->ctx = g_main_context_new ();
  s->mainloop = g_main_loop_new (s->ctx, FALSE);
  s->source = g_socket_create_source (s->socket, G_IO_IN | G_IO_ERR | G_IO_HUP | G_IO_NVAL,
      NULL);
  g_source_set_callback (s->source, (GSourceFunc) (GCallback) gst_rtsp_server_io_func,
      g_object_ref (s->server), g_object_unref);
  g_source_attach (s->source, s->ctx);

  s->thread = g_thread_new ("rtsptest", loop_thread, s);
  return s;
}

int
rtsptest_server_port (RtsptestServer * s)
{
  return s->port;
}

/* ---------------------------------------------------------------- control */

void
rtsptest_server_stall (RtsptestServer * s, gboolean on)
{
  GList *m, *p;

  g_mutex_lock (&s->lock);
  s->stalled = on;
  for (m = s->medias; m != NULL; m = m->next) {
    MediaRec *rec = m->data;
    for (p = rec->pads; p != NULL; p = p->next) {
      GstPad *pad = p->data;
      Tap *t = g_object_get_qdata (G_OBJECT (pad), tap_quark);
      if (t != NULL)
        tap_stall (pad, t, on);
    }
  }
  g_mutex_unlock (&s->lock);
}

int
rtsptest_server_clients (RtsptestServer * s)
{
  GList *clients = gst_rtsp_server_client_filter (s->server, NULL, NULL);
  int n = (int) g_list_length (clients);

  g_list_free_full (clients, g_object_unref);
  return n;
}

static GstRTSPFilterResult
remove_client (GstRTSPServer * server, GstRTSPClient * client, gpointer data)
{
  (void) server;
  (void) client;
  (void) data;
  return GST_RTSP_FILTER_REMOVE;        /* the server closes the connection */
}

static GstRTSPFilterResult
remove_session (GstRTSPSessionPool * pool, GstRTSPSession * session, gpointer data)
{
  (void) pool;
  (void) session;
  (void) data;
  return GST_RTSP_FILTER_REMOVE;
}

static gboolean
stop_in_loop (gpointer data)
{
  RtsptestServer *s = data;
  GstRTSPMountPoints *mounts;
  GstRTSPSessionPool *sessions;
  GList *recs, *l;

  /* 1. no new connections */
  g_source_destroy (s->source);
  g_source_unref (s->source);
  s->source = NULL;
  g_socket_close (s->socket, NULL);
  g_object_unref (s->socket);
  s->socket = NULL;

  g_mutex_lock (&s->lock);
  s->stopped = TRUE;
  g_mutex_unlock (&s->lock);
  g_signal_handlers_disconnect_by_func (s->factory, on_media_configure, s);
  mounts = gst_rtsp_server_get_mount_points (s->server);
  gst_rtsp_mount_points_remove_factory (mounts, s->path);
  g_object_unref (mounts);

  /* 2. drop every connection, then every session (and with it its medias) */
  g_list_free_full (gst_rtsp_server_client_filter (s->server, remove_client, NULL),
      g_object_unref);
  sessions = gst_rtsp_server_get_session_pool (s->server);
  if (sessions != NULL) {
    g_list_free_full (gst_rtsp_session_pool_filter (sessions, remove_session, NULL),
        g_object_unref);
    g_object_unref (sessions);
  }

  /* 3. whatever media is still prepared (shared, or not yet in a session) goes down too */
  g_mutex_lock (&s->lock);
  recs = s->medias;
  s->medias = NULL;
  g_mutex_unlock (&s->lock);
  for (l = recs; l != NULL; l = l->next) {
    MediaRec *rec = l->data;
    int i;

    g_signal_handlers_disconnect_by_func (rec->media, on_unprepared, s);
    for (i = 0; i < 64
        && gst_rtsp_media_get_status (rec->media) != GST_RTSP_MEDIA_STATUS_UNPREPARED; i++)
      gst_rtsp_media_unprepare (rec->media);
    rec_free (rec);
  }
  g_list_free (recs);

  g_object_unref (s->factory);
  s->factory = NULL;
  g_object_unref (s->server);
  s->server = NULL;
  g_main_loop_quit (s->mainloop);
  return G_SOURCE_REMOVE;
}

void
rtsptest_server_stop (RtsptestServer * s)
{
  int i;

  invoke_sync (s, stop_in_loop, s);
  g_thread_join (s->thread);
  s->thread = NULL;

  /* run what the teardown queued on the context (idle frees, closed watches) */
  for (i = 0; i < 1000 && g_main_context_iteration (s->ctx, FALSE); i++);
  g_main_loop_unref (s->mainloop);
  g_main_context_unref (s->ctx);
  server_unref (s);
}

/* ---------------------------------------------------------------- helpers */

gboolean
rtsptest_run_to_eos (const char *launch, int timeout_ms, char **err)
{
  GstElement *pipeline;
  GstBus *bus;
  GstMessage *msg;
  GError *gerr = NULL;
  gboolean ok = FALSE;

  init_once ();
  pipeline = gst_parse_launch (launch, &gerr);
  if (pipeline == NULL || gerr != NULL) {
    *err = g_strdup_printf ("parse %s: %s", launch, gerr != NULL ? gerr->message : "failed");
    g_clear_error (&gerr);
    if (pipeline != NULL)
      gst_object_unref (pipeline);
    return FALSE;
  }
  bus = gst_element_get_bus (pipeline);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    *err = g_strdup ("pipeline refused to play");
  } else {
    msg = gst_bus_timed_pop_filtered (bus, (GstClockTime) timeout_ms * GST_MSECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    if (msg == NULL) {
      *err = g_strdup_printf ("no EOS within %d ms", timeout_ms);
    } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gchar *debug = NULL;
      gst_message_parse_error (msg, &gerr, &debug);
      *err = g_strdup_printf ("%s: %s (%s)", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)),
          gerr->message, debug != NULL ? debug : "");
      g_clear_error (&gerr);
      g_free (debug);
    } else {
      ok = TRUE;
    }
    if (msg != NULL)
      gst_message_unref (msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok;
}
