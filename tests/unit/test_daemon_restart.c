/*
 * test_daemon_restart.c - the restart policy: backoff growth and the
 * early-death limit over a sliding window (daemon/restart.c).
 */
#include "restart.h"
#include "tap.h"

#define S 1000000000ull

int main(void)
{
	struct tr_restart r = {0};

	is_int(tr_restart_backoff_ms(1, 100, 30000), 100, "first early death: base");
	is_int(tr_restart_backoff_ms(2, 100, 30000), 200, "second: doubled");
	is_int(tr_restart_backoff_ms(4, 100, 30000), 800, "fourth: 8x");
	is_int(tr_restart_backoff_ms(20, 100, 30000), 30000, "capped at the maximum");
	is_int(tr_restart_backoff_ms(1000, 100, 30000), 30000, "huge streak: no overflow");
	is_int(tr_restart_backoff_ms(3, 0, 30000), 0, "base 0: no delay");
	is_int(tr_restart_backoff_ms(3, 500, 300), 300, "max below base wins");

	/* max 3 within 60 s: the 4th early death inside the window trips. */
	uint64_t t = 1000 * S;
	is_int(tr_restart_early(&r, t, 3, 60), 0, "1st early death");
	is_int(tr_restart_early(&r, t + 1 * S, 3, 60), 0, "2nd");
	is_int(tr_restart_early(&r, t + 2 * S, 3, 60), 0, "3rd");
	is_int(tr_restart_recent(&r, t + 2 * S, 60), 3, "3 recent");
	is_int(tr_restart_early(&r, t + 3 * S, 3, 60), 1, "4th within the window trips");
	tr_restart_free(&r);

	/* Deaths spread wider than the window never trip. */
	for (int i = 0; i < 100; i++)
		if (tr_restart_early(&r, t + (uint64_t)i * 61 * S, 1, 60)) {
			ok(0, "spread deaths tripped at %d", i);
			break;
		}
	ok(tr_restart_recent(&r, t + 99 * 61 * S, 60) == 1, "old deaths leave the window");
	tr_restart_free(&r);

	is_int(tr_restart_early(&r, t, 0, 60), 1, "max 0: the first early death trips");
	tr_restart_free(&r);

	/* Many entries (array growth) keep counting right. */
	for (int i = 0; i < 1000; i++)
		tr_restart_early(&r, t + (uint64_t)i * 1000, 5000, 60);
	is_int(tr_restart_recent(&r, t + 1000 * 1000, 60), 1000, "1000 recent deaths kept");
	tr_restart_free(&r);
	return tap_done();
}
