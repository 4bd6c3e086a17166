/* The C half of package rtsptest: a gst-rtsp-server instance driven by its own GLib main loop
 * thread. See server.go for the Go API and rtsptest.c for how stall and loop work. */
#ifndef EBRCS_RTSPTEST_H
#define EBRCS_RTSPTEST_H

#include <glib.h>

typedef struct _RtsptestServer RtsptestServer;

/* rtsptest_server_start binds 127.0.0.1:port (0: any free port), mounts launch at path and
 * starts the main loop thread. It returns NULL and sets *err (free with g_free) on failure.
 * user may be NULL or empty for no authentication. */
RtsptestServer *rtsptest_server_start (const char *launch, const char *path, int port,
    gboolean shared, const char *user, const char *password, gboolean loop, char **err);

int rtsptest_server_port (RtsptestServer * s);

/* rtsptest_server_stall blocks (TRUE) or releases (FALSE) the data flow of every media. */
void rtsptest_server_stall (RtsptestServer * s, gboolean on);

/* rtsptest_server_clients counts the connected RTSP client connections. */
int rtsptest_server_clients (RtsptestServer * s);

/* rtsptest_server_stop closes the listening socket and every client, unprepares every media,
 * stops the main loop thread and drops the caller's reference. s is invalid afterwards. */
void rtsptest_server_stop (RtsptestServer * s);

/* rtsptest_run_to_eos runs a gst-launch description until EOS or error, at most timeout_ms.
 * Returns TRUE on EOS; otherwise sets *err (free with g_free). */
gboolean rtsptest_run_to_eos (const char *launch, int timeout_ms, char **err);

#endif
