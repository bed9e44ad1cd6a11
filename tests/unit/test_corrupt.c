/*
 * test_corrupt.c - a vandal process writes random bytes over slot records,
 * argument and result areas, ring entries and the queue heads while two
 * consumers run and the parent submits tasks and audits as the supervisor
 * does. Consumers and the checker must survive; every task must end either
 * done with its right result or with an error; none may end with a wrong
 * result or hang.
 */
#include <sys/mman.h>

#include "qtest.h"
#include "tap.h"

enum { NC = 2, MAXT = 200000 };

static struct trq q;

static void vandal(unsigned ms)
{
	uint64_t end = trq_now() + (uint64_t)ms * 1000000ull;
	struct trq_hdr *h = q.hdr;
	while (trq_now() < end) {
		uint32_t idx = (uint32_t)rand() % q.capacity;
		unsigned char *p;
		size_t len;
		switch (rand() % 5) {
		case 0:
			p = (unsigned char *)&q.meta[idx];
			len = sizeof(struct trq_slot);
			break;
		case 1:
			p = q.args + (size_t)idx * q.payload_max;
			len = q.payload_max;
			break;
		case 2:
			p = q.out + (size_t)idx * q.result_max;
			len = q.result_max;
			break;
		case 3:
			p = (unsigned char *)q.ring[rand() % 2];
			len = q.capacity * sizeof(uint32_t);
			break;
		default: /* the lock-protected heads and counts, not the mutex */
			p = (unsigned char *)&h->ring_head[0];
			len = offsetof(struct trq_hdr, qseq_next) -
			      offsetof(struct trq_hdr, ring_head);
			break;
		}
		size_t n = 1 + (size_t)rand() % 8, off = (size_t)rand() % len;
		for (size_t i = 0; i < n && off + i < len; i++)
			__atomic_store_n(&p[off + i], (unsigned char)rand(), __ATOMIC_RELAXED);
		usleep(1000);
	}
}

static pid_t spawn(int role, int w, uint32_t inc)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		srand((unsigned)getpid());
		if (role == 0)
			vandal(3000);
		else
			qt_consume(&q, w, inc, 0);
		_exit(0);
	}
	return pid;
}

int main(void)
{
	qt_setup("corrupt", 240);
	static uint64_t ids[MAXT];
	static char want[MAXT][24];
	int r = qt_create(&q, 512, 128, 128);
	if (!ok(r == 0, "segment created"))
		return tap_done();
	pid_t cons[NC];
	for (int i = 0; i < NC; i++) {
		uint32_t inc = qt_worker_start(&q, i, 0);
		cons[i] = spawn(1, i, inc);
		q.workers[i].pid = cons[i];
	}
	pid_t v = spawn(0, 0, 0);

	/* Orphans (tasks whose id the vandal destroyed) can never be read by
	 * their client; a short TTL reclaims them as it would in production. */
	q.hdr->result_ttl_ns = 2000000000ull;
	size_t n = 0, checked = 0;
	unsigned audits_bad = 0, right = 0, failed = 0, gone = 0, wrong = 0, hung = 0;
	uint64_t next_audit = 0;
	int vst = 0, vdone = 0;
	uint64_t final_dl = 0;
	for (;;) {
		if (!vdone && waitpid(v, &vst, WNOHANG) == v) {
			vdone = 1;
			final_dl = trq_now() + 60000000000ull;
			char msg[200];
			for (int i = 0; i < 5 && trq_audit(&q, 1, msg, sizeof(msg)); i++)
				audits_bad++;
		}
		if (!vdone && n + 16 < MAXT) {
			char words[16][24];
			const char *argv[16][1];
			struct taskring_req reqs[16];
			for (int i = 0; i < 16; i++) {
				snprintf(words[i], sizeof(words[i]), "t%zu", n + (size_t)i);
				argv[i][0] = words[i];
				reqs[i] = (struct taskring_req){"echo", 1, argv[i]};
			}
			struct taskring_opts o = {.timeout_ms = 50};
			int k = trq_submit(&q, 16, reqs, &o, &ids[n]);
			for (int i = 0; i < k; i++)
				memcpy(want[n + (size_t)i], words[i], sizeof(words[i]));
			if (k > 0)
				n += (size_t)k;
		}
		/* Check results as they come; every task ends right or with an error. */
		size_t upto = vdone ? n : (n > 64 ? n - 64 : 0);
		for (; checked < upto; checked++) {
			struct taskring_info info;
			uint64_t dl = trq_now() + 10000000000ull;
			if (final_dl && dl > final_dl)
				dl = final_dl;
			/* In slices, auditing between them as the supervisor does
			 * every few seconds: a task the damage took out of its ring
			 * waits for the audit's rebuild, which a plain 10 s wait here
			 * would hold off (seen once under TSan). */
			for (;;) {
				uint64_t now = trq_now(), sl = now + 50000000ull;
				r = trq_wait_final(&q, ids[checked], sl < dl ? sl : dl);
				if (r != -ETIMEDOUT || trq_now() >= dl)
					break;
				char msg[200];
				if (trq_audit(&q, 1, msg, sizeof(msg)))
					audits_bad++;
			}
			if (r == -ETIMEDOUT) {
				hung++;
				continue;
			}
			if (r == 0)
				r = trq_get(&q, ids[checked], &info, 1);
			if (r) {
				gone++; /* its id was destroyed: the client is told, not fooled */
				continue;
			}
			if (info.state == TASKRING_DONE && strcmp(info.output, want[checked]) == 0)
				right++;
			else if (info.state == TASKRING_FAILED || info.state == TASKRING_CANCELLED)
				failed++;
			else {
				wrong++;
				diag("  task %llu: state %s output '%s', want '%s'",
				     (unsigned long long)ids[checked],
				     taskring_state_name(info.state), info.output, want[checked]);
			}
			taskring_info_release(&info);
		}
		if (vdone)
			break;
		if (trq_now() > next_audit) {
			char msg[200];
			if (trq_audit(&q, 1, msg, sizeof(msg)))
				audits_bad++;
			next_audit = trq_now() + 20000000ull;
		}
	}
	ok(WIFEXITED(vst) && WEXITSTATUS(vst) == 0, "the vandal ran to its end");
	diag("%zu tasks submitted while the vandal wrote; %u audits found damage and repaired it",
	     n, audits_bad);
	ok(audits_bad > 0, "the audit saw the damage");
	char msg[256];
	r = trq_check(&q, msg, sizeof(msg));
	if (!ok(r == 0, "invariants hold after the repair"))
		diag("  %s", msg);
	diag("%u right, %u failed with an error, %u ids reported gone", right, failed, gone);
	is_int(hung, 0, "no task hung");
	is_int(wrong, 0, "no task ended with a wrong result");
	ok(right > n / 2, "most tasks still done right (%u of %zu)", right, n);
	for (int i = 0; i < NC; i++) {
		int st;
		ok(waitpid(cons[i], &st, WNOHANG) == 0, "consumer %d survived", i);
		kill(cons[i], SIGKILL);
		waitpid(cons[i], NULL, 0);
	}
	r = trq_check(&q, msg, sizeof(msg));
	if (!ok(r == 0, "invariants hold at the end"))
		diag("  %s", msg);
	trq_detach(&q);
	return tap_done();
}
