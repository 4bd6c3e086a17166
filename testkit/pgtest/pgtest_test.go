package pgtest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A cluster starts, keeps what was committed across a clean stop and a kill -9, and is gone
// with the test.
func TestStartStopKill(t *testing.T) {
	pg := Start(t)
	url := pg.CreateDatabase(t, "ebrcs_test")
	if want := "postgres://postgres@127.0.0.1:"; len(url) < len(want) || url[:len(want)] != want {
		t.Fatalf("URL %q", url)
	}
	pg.Psql(t, "ebrcs_test", "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
	pg.Stop()
	pg.Start(t)
	pg.Psql(t, "ebrcs_test", "INSERT INTO t VALUES (2)")
	pg.Kill()
	pg.Start(t)
	if got := pg.Psql(t, "ebrcs_test", "SELECT sum(v) FROM t"); got != "3" {
		t.Fatalf("after a stop and a kill: sum %q, want 3\n%s", got, pg.Log())
	}
	if u := pg.Psql(t, "", "SELECT current_user"); u != "postgres" {
		t.Fatalf("current_user %q", u)
	}
}
