// SPDX-License-Identifier: GPL-2.0
/*
 * sch_tdma.c	Time-division (TDMA) scheduler.
 *
 * One FIFO of packets that may only leave inside periodic transmit windows.
 * A schedule is a frame length, up to TDMA_MAX_WINDOWS windows (offset,
 * length) inside the frame, a guard time at the end of each window, a base
 * time giving the phase of the frames and a clock. Frame k starts at
 * base_time + k * frame_ns for every integer k (also negative ones).
 *
 * A packet may leave at time t if t lies in [start, end - guard) of a window
 * and, when the link rate is known, its transmission ends by end - guard.
 * At a known rate the packets are also paced: one starts only once the link
 * has sent the one before, so a window never carries more than
 * rate * (length - guard) bytes. The head of the queue blocks everything
 * behind it: packets are never reordered.
 *
 * Clock and timer: the schedule is kept on its own clock (TAI by default),
 * read with ktime_get_*_ns(). While the head has to wait, a qdisc watchdog
 * is armed at the next usable opening. The watchdog's hrtimer is created on
 * the schedule's clockid (qdisc_watchdog_init_clockid(), as sch_etf does),
 * so expiry times need no conversion to CLOCK_MONOTONIC and the timer
 * follows REALTIME/TAI clock steps the way the schedule does. Because the
 * timer's clock is fixed at init, change refuses a different clockid.
 *
 * Schedule changes: change() builds and fully validates a new schedule
 * object, then publishes it as q->pending (under the qdisc tree lock) with
 * an activation time on a frame boundary of the running schedule. The
 * datapath (always under the qdisc lock) swaps q->pending into q->cur the
 * first time it runs at or after that time, so a dequeue sees either the
 * old or the new schedule, never a mix. Both pointers are RCU-published and
 * retired with kfree_rcu() so that dump(), which runs under RTNL only, can
 * read them under rcu_read_lock(). Queued packets stay in the one FIFO.
 *
 * Window open/close events: the qdisc remembers the window occurrence
 * (frame, window) it is servicing. The first dequeue (or watchdog-driven
 * dequeue) that finds packets queued inside a new occurrence emits
 * tdma_window_open; tdma_window_close is emitted for an open occurrence the
 * next time the qdisc runs after its scheduled end (enqueue or dequeue),
 * when a dequeue is serviced in another window, on a schedule switch, on
 * reset and on destroy.
 */

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/time.h>
#include <linux/timekeeping.h>
#include <linux/types.h>
#include <net/netlink.h>
#include <net/pkt_sched.h>
#include <net/sch_generic.h>

#include "tdma_uapi.h"

#define CREATE_TRACE_POINTS
#include "tdma_trace.h"

/* Bound on |base_time| and change_at: keeps t - base inside s64. */
#define TDMA_MAX_ABS_TIME	(1LL << 62)

struct tdma_window {
	u64	offset;
	u64	length;
};

struct tdma_sched {
	struct rcu_head		rcu;
	u64			frame_ns;
	s64			base_time;
	u64			guard_ns;
	u64			rate;		/* bytes/s, 0 = unknown */
	u64			max_usable;	/* longest length - guard */
	s64			activate_at;	/* clock time it takes effect */
	u32			limit;
	u32			nr;
	clockid_t		clockid;
	struct tdma_window	win[TDMA_MAX_WINDOWS];
};

/* One occurrence of a window: window @window of frame @frame. */
struct tdma_slot {
	s64	frame;
	s64	start;		/* scheduled start */
	s64	end;		/* scheduled end, guard included */
	s64	usable_end;	/* end - guard */
	u32	window;
};

struct tdma_skb_cb {
	s64	enqueue_ns;
};

struct tdma_sched_data {
	struct tdma_sched __rcu	*cur;
	struct tdma_sched __rcu	*pending;
	struct qdisc_watchdog	wd;
	clockid_t		clockid;

	/* At a known rate: when the link has sent what was dequeued. */
	s64			link_free;

	/* The window occurrence being serviced (valid if open). */
	bool			open;
	struct tdma_slot	slot;
	u32			slot_packets;
	u64			slot_bytes;

	/* Frame counting. */
	bool			frame_valid;
	s64			last_frame;
	s64			next_frame_start;

	/* Drops done in dequeue, not yet reported to the parents. */
	u32			drop_count;
	u32			drop_len;

	u64			frames;
	u64			windows_opened;
	u64			deferred;
	u64			dropped_limit;
	u64			dropped_too_big;
	u64			late;
	u64			overrun;
	u64			changes;
	struct tc_tdma_window_stats wstats[TDMA_MAX_WINDOWS];
};

enum tdma_verdict {
	TDMA_SEND,
	TDMA_WAIT,
	TDMA_DROP,
};

static struct tdma_skb_cb *tdma_skb_cb(struct sk_buff *skb)
{
	qdisc_cb_private_validate(skb, sizeof(struct tdma_skb_cb));
	BUILD_BUG_ON(sizeof(struct tdma_skb_cb) >
		     sizeof(qdisc_skb_cb(skb)->data));
	return (struct tdma_skb_cb *)qdisc_skb_cb(skb)->data;
}

/* The datapath runs with BHs off under the qdisc lock; dump_stats too. */
static struct tdma_sched *tdma_cur(struct tdma_sched_data *q)
{
	return rcu_dereference_bh(q->cur);
}

static struct tdma_sched *tdma_pending(struct tdma_sched_data *q)
{
	return rcu_dereference_bh(q->pending);
}

static s64 tdma_now(const struct tdma_sched_data *q)
{
	switch (q->clockid) {
	case CLOCK_REALTIME:
		return ktime_get_real_ns();
	case CLOCK_MONOTONIC:
		return ktime_get_ns();
	case CLOCK_BOOTTIME:
		return ktime_get_boottime_ns();
	default:
		return ktime_get_clocktai_ns();
	}
}

/* k = floor((t - base) / frame) and the start of frame k. */
static s64 tdma_frame_of(const struct tdma_sched *s, s64 t, s64 *fstart)
{
	s64 rel = t - s->base_time;
	s64 k;

	if (rel >= 0)
		k = div64_u64(rel, s->frame_ns);
	else
		k = -(s64)div64_u64(-(rel + 1), s->frame_ns) - 1;
	*fstart = s->base_time + k * (s64)s->frame_ns;
	return k;
}

/* Transmission time of @len bytes at the schedule's rate, rounded up. */
static u64 tdma_tx_ns(const struct tdma_sched *s, unsigned int len)
{
	u64 rem, tx;

	if (!s->rate)
		return 0;
	tx = div64_u64_rem((u64)len * NSEC_PER_SEC, s->rate, &rem);
	return tx + (rem != 0);
}

/*
 * Find the earliest time >= t at which a packet needing @tx ns may start
 * under @s: the window occurrence is returned in @slot and the time is
 * max(t, slot->start). Returns false if no window is long enough.
 * Two frames are always enough: the longest window of the frame after the
 * one holding t starts after t.
 */
static bool tdma_next_fit(const struct tdma_sched *s, s64 t, u64 tx,
			  struct tdma_slot *slot)
{
	s64 fstart, k, start, uend;
	int pass;
	u32 i;

	if (tx > s->max_usable)
		return false;

	k = tdma_frame_of(s, t, &fstart);
	for (pass = 0; pass < 2; pass++, k++, fstart += s->frame_ns) {
		for (i = 0; i < s->nr; i++) {
			start = fstart + s->win[i].offset;
			uend = start + s->win[i].length - s->guard_ns;
			if (uend <= t)
				continue;
			if (max(t, start) + (s64)tx > uend)
				continue;
			slot->frame = k;
			slot->start = start;
			slot->end = start + s->win[i].length;
			slot->usable_end = uend;
			slot->window = i;
			return true;
		}
	}
	return false;	/* not reached: tx <= max_usable */
}

/*
 * May a packet of @len bytes leave now? On TDMA_SEND @slot is the window
 * occurrence it leaves in; on TDMA_WAIT @when is the time to look again.
 */
static enum tdma_verdict tdma_verdict(struct tdma_sched_data *q,
				      const struct tdma_sched *s,
				      const struct tdma_sched *pend,
				      unsigned int len, s64 now,
				      struct tdma_slot *slot, s64 *when)
{
	u64 tx = tdma_tx_ns(s, len);
	bool fits_cur;
	s64 from, t;

	/*
	 * At a known rate the link is busy until what left before has been
	 * sent: the next packet starts no earlier. Without this, a device that
	 * takes packets at once (veth, a NIC with a deep ring) would be handed
	 * a whole queue in one window, far beyond what the link can carry in it.
	 */
	from = (s->rate && q->link_free > now) ? q->link_free : now;

	/* Fast path: still inside the occurrence being serviced. */
	if (q->open && from >= q->slot.start && from < q->slot.usable_end &&
	    from + (s64)tx <= q->slot.usable_end) {
		*slot = q->slot;
		if (from == now)
			return TDMA_SEND;
		*when = from;
		return TDMA_WAIT;
	}

	fits_cur = tdma_next_fit(s, from, tx, slot);
	if (fits_cur) {
		t = max(from, slot->start);
		if (!pend || t < pend->activate_at) {
			if (t == now)
				return TDMA_SEND;
			*when = t;
			return TDMA_WAIT;
		}
	}
	if (!pend)
		return TDMA_DROP;

	/* The next chance is under the pending schedule. */
	t = max(from, pend->activate_at);
	if (!tdma_next_fit(pend, t, tdma_tx_ns(pend, len), slot)) {
		if (!fits_cur)
			return TDMA_DROP;
		/* Dropped after the switch unless the schedule changes. */
		*when = pend->activate_at;
		return TDMA_WAIT;
	}
	*when = max(t, slot->start);
	return TDMA_WAIT;
}

/*
 * Arm the watchdog at @when unless it already fires earlier. The timer's own
 * expiry is what the watchdog last set: qdisc_watchdog's last_expires field
 * is gone since 6.9, hrtimer_get_softexpires() is in every kernel.
 */
static void tdma_arm(struct tdma_sched_data *q, s64 when)
{
	if (hrtimer_is_queued(&q->wd.timer) &&
	    ktime_to_ns(hrtimer_get_softexpires(&q->wd.timer)) <= when)
		return;
	qdisc_watchdog_schedule_ns(&q->wd, when);
}

static void tdma_close(struct Qdisc *sch, struct tdma_sched_data *q, s64 now)
{
	if (!q->open)
		return;
	q->open = false;
	trace_tdma_window_close(sch, q->slot.window, q->slot.frame,
				q->slot.end, now, q->slot_packets,
				q->slot_bytes, sch->q.qlen);
}

static void tdma_open(struct Qdisc *sch, struct tdma_sched_data *q,
		      const struct tdma_slot *slot, s64 now)
{
	q->open = true;
	q->slot = *slot;
	q->slot_packets = 0;
	q->slot_bytes = 0;
	q->windows_opened++;
	if (now - slot->start > (slot->end - slot->start) / 8)
		q->late++;
	trace_tdma_window_open(sch, slot->window, slot->frame, slot->start,
			       slot->end, now, sch->q.qlen);
}

/*
 * Bring the qdisc's state up to @now: apply a pending schedule whose time
 * has come, close a window whose end has passed, count frames.
 * Called under the qdisc lock. Returns the running schedule.
 */
static struct tdma_sched *tdma_advance(struct Qdisc *sch,
				       struct tdma_sched_data *q, s64 now)
{
	struct tdma_sched *s = tdma_cur(q);
	struct tdma_sched *pend = tdma_pending(q);
	s64 k, fstart;

	if (unlikely(pend && now >= pend->activate_at)) {
		tdma_close(sch, q, now);
		rcu_assign_pointer(q->cur, pend);
		RCU_INIT_POINTER(q->pending, NULL);
		kfree_rcu(s, rcu);
		s = pend;
		q->changes++;
		/* Window indices change meaning with the schedule. */
		memset(q->wstats, 0, sizeof(q->wstats));
		q->frame_valid = false;
		q->next_frame_start = S64_MIN;
	}

	if (q->open && now >= q->slot.end)
		tdma_close(sch, q, now);

	if (now >= q->next_frame_start) {
		k = tdma_frame_of(s, now, &fstart);
		if (q->frame_valid && k > q->last_frame)
			q->frames += k - q->last_frame;
		q->frame_valid = true;
		q->last_frame = k;
		q->next_frame_start = fstart + s->frame_ns;
	}
	return s;
}

static int tdma_enqueue(struct sk_buff *skb, struct Qdisc *sch,
			struct sk_buff **to_free)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	unsigned int len = qdisc_pkt_len(skb);
	struct tdma_sched *s, *pend;
	s64 now = tdma_now(q);

	s = tdma_advance(sch, q, now);

	if (unlikely(sch->q.qlen >= s->limit)) {
		q->dropped_limit++;
		trace_tdma_drop(sch, skb, TDMA_DROP_LIMIT, sch->q.qlen);
		return qdisc_drop(skb, sch, to_free);
	}

	if (s->rate && tdma_tx_ns(s, len) > s->max_usable) {
		pend = tdma_pending(q);
		if (!pend || tdma_tx_ns(pend, len) > pend->max_usable) {
			q->dropped_too_big++;
			trace_tdma_drop(sch, skb, TDMA_DROP_TOO_BIG,
					sch->q.qlen);
			return qdisc_drop(skb, sch, to_free);
		}
	}

	tdma_skb_cb(skb)->enqueue_ns = now;
	qdisc_enqueue_tail(skb, sch);
	trace_tdma_enqueue(sch, skb, sch->q.qlen, sch->qstats.backlog);
	return NET_XMIT_SUCCESS;
}

/* Drop the head in dequeue: it can never be sent under the schedule. */
static void tdma_drop_head(struct Qdisc *sch, struct tdma_sched_data *q)
{
	struct sk_buff *skb = __qdisc_dequeue_head(&sch->q);
	unsigned int len = qdisc_pkt_len(skb);

	qdisc_qstats_backlog_dec(sch, skb);
	qdisc_qstats_drop(sch);
	q->dropped_too_big++;
	q->drop_count++;
	q->drop_len += len;
	trace_tdma_drop(sch, skb, TDMA_DROP_TOO_BIG, sch->q.qlen);
	kfree_skb(skb);
}

static struct sk_buff *tdma_dequeue(struct Qdisc *sch)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct tdma_sched *s, *pend;
	struct sk_buff *skb = NULL;
	enum tdma_verdict v;
	struct tdma_slot slot;
	unsigned int len;
	s64 now, when, waited;

	now = tdma_now(q);
	s = tdma_advance(sch, q, now);
	pend = tdma_pending(q);

	for (;;) {
		skb = qdisc_peek_head(sch);
		if (!skb)
			goto out;
		len = qdisc_pkt_len(skb);
		v = tdma_verdict(q, s, pend, len, now, &slot, &when);
		if (likely(v == TDMA_SEND))
			break;
		if (v == TDMA_WAIT) {
			q->deferred++;
			tdma_arm(q, when);
			skb = NULL;
			goto out;
		}
		tdma_drop_head(sch, q);
	}

	if (!q->open || q->slot.frame != slot.frame ||
	    q->slot.window != slot.window) {
		tdma_close(sch, q, now);
		tdma_open(sch, q, &slot, now);
	}

	skb = __qdisc_dequeue_head(&sch->q);
	qdisc_qstats_backlog_dec(sch, skb);
	qdisc_bstats_update(sch, skb);

	q->slot_packets++;
	q->slot_bytes += len;
	q->wstats[slot.window].packets++;
	q->wstats[slot.window].bytes += len;
	if (s->rate) {
		q->link_free = now + (s64)tdma_tx_ns(s, len);
		if (q->link_free > slot.end)
			q->overrun++;
	}

	waited = now - tdma_skb_cb(skb)->enqueue_ns;
	trace_tdma_dequeue(sch, skb, slot.window, slot.frame, slot.end - now,
			   waited > 0 ? waited : 0, sch->q.qlen);
out:
	/* Tell the parents about drops, but never with qlen 0 (as codel). */
	if (q->drop_count && sch->q.qlen) {
		qdisc_tree_reduce_backlog(sch, q->drop_count, q->drop_len);
		q->drop_count = 0;
		q->drop_len = 0;
	}
	return skb;
}

/* Like dequeue without side effects on the queue: what dequeue would give. */
static struct sk_buff *tdma_peek(struct Qdisc *sch)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct sk_buff *skb = qdisc_peek_head(sch);
	struct tdma_sched *s;
	struct tdma_slot slot;
	s64 now, when;

	if (!skb)
		return NULL;
	now = tdma_now(q);
	s = tdma_advance(sch, q, now);
	if (tdma_verdict(q, s, tdma_pending(q), qdisc_pkt_len(skb), now,
			 &slot, &when) == TDMA_SEND)
		return skb;
	return NULL;
}

/* Trace every queued packet as purged; the caller frees them. */
static void tdma_trace_purge(struct Qdisc *sch)
{
	struct sk_buff *skb;
	u32 left = sch->q.qlen;

	if (!trace_tdma_drop_enabled())
		return;
	for (skb = sch->q.head; skb; skb = skb->next)
		trace_tdma_drop(sch, skb, TDMA_DROP_PURGE, --left);
}

static void tdma_reset(struct Qdisc *sch)
{
	struct tdma_sched_data *q = qdisc_priv(sch);

	tdma_trace_purge(sch);
	qdisc_reset_queue(sch);
	tdma_close(sch, q, tdma_now(q));
	q->drop_count = 0;
	q->drop_len = 0;
	qdisc_watchdog_cancel(&q->wd);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

static const struct nla_policy tdma_win_policy[TCA_TDMA_WIN_MAX + 1] = {
	[TCA_TDMA_WIN_OFFSET_NS]	= { .type = NLA_U64 },
	[TCA_TDMA_WIN_LENGTH_NS]	= { .type = NLA_U64 },
	[TCA_TDMA_WIN_PAD]		= { .type = NLA_BINARY },
};

static const struct nla_policy tdma_windows_policy[TCA_TDMA_WINDOWS_MAX + 1] = {
	[TCA_TDMA_WINDOW_ENTRY]		= NLA_POLICY_NESTED(tdma_win_policy),
};

static const struct nla_policy tdma_policy[TCA_TDMA_MAX + 1] = {
	[TCA_TDMA_FRAME_NS]	= { .type = NLA_U64 },
	[TCA_TDMA_BASE_TIME]	= { .type = NLA_S64 },
	[TCA_TDMA_CLOCKID]	= { .type = NLA_S32 },
	[TCA_TDMA_GUARD_NS]	= { .type = NLA_U64 },
	[TCA_TDMA_LIMIT]	= { .type = NLA_U32 },
	[TCA_TDMA_RATE]		= { .type = NLA_U64 },
	[TCA_TDMA_WINDOWS]	= NLA_POLICY_NESTED(tdma_windows_policy),
	[TCA_TDMA_CHANGE_AT]	= { .type = NLA_U64 },
	[TCA_TDMA_PAD]		= { .type = NLA_BINARY },
};

/*
 * Extack messages must be string constants, so messages that name a window
 * come from tables with one literal per window index.
 */
#define TDMA_W16(pre, post) {						\
	pre "0" post, pre "1" post, pre "2" post, pre "3" post,		\
	pre "4" post, pre "5" post, pre "6" post, pre "7" post,		\
	pre "8" post, pre "9" post, pre "10" post, pre "11" post,	\
	pre "12" post, pre "13" post, pre "14" post, pre "15" post }

#define TDMA_W16P(pre, mid, post) {					\
	NULL, pre "1" mid "0" post, pre "2" mid "1" post,		\
	pre "3" mid "2" post, pre "4" mid "3" post,			\
	pre "5" mid "4" post, pre "6" mid "5" post,			\
	pre "7" mid "6" post, pre "8" mid "7" post,			\
	pre "9" mid "8" post, pre "10" mid "9" post,			\
	pre "11" mid "10" post, pre "12" mid "11" post,			\
	pre "13" mid "12" post, pre "14" mid "13" post,			\
	pre "15" mid "14" post }

static const char * const tdma_msg_win_missing[TDMA_MAX_WINDOWS] =
	TDMA_W16("tdma: window ", " needs offset_ns and length_ns");
static const char * const tdma_msg_win_zero[TDMA_MAX_WINDOWS] =
	TDMA_W16("tdma: window ", " has length 0");
static const char * const tdma_msg_win_short[TDMA_MAX_WINDOWS] =
	TDMA_W16("tdma: window ", " is shorter than TDMA_MIN_WINDOW_NS (1 us)");
static const char * const tdma_msg_win_past[TDMA_MAX_WINDOWS] =
	TDMA_W16("tdma: window ", " ends past the frame (offset+length > frame)");
static const char * const tdma_msg_win_guard[TDMA_MAX_WINDOWS] =
	TDMA_W16("tdma: guard_ns must be shorter than window ", "");
static const char * const tdma_msg_win_order[TDMA_MAX_WINDOWS] =
	TDMA_W16P("tdma: window ", " starts before window ",
		  " (windows must be in offset order)");
static const char * const tdma_msg_win_overlap[TDMA_MAX_WINDOWS] =
	TDMA_W16P("tdma: window ", " overlaps window ", "");

/* NL_SET_ERR_MSG_ATTR for a message picked from one of the tables above. */
static void tdma_err_attr(struct netlink_ext_ack *extack,
			  const struct nlattr *attr, const char *msg)
{
	do_trace_netlink_extack(msg);
	if (extack) {
		extack->_msg = msg;
		extack->bad_attr = attr;
		extack->policy = NULL;
	}
}

static int tdma_parse_windows(struct tdma_sched *s, struct nlattr *windows,
			      struct netlink_ext_ack *extack)
{
	struct nlattr *tb[TCA_TDMA_WIN_MAX + 1];
	struct nlattr *entry;
	u64 off, len, prev_end = 0;
	int rem, err;
	u32 n = 0;

	nla_for_each_nested(entry, windows, rem) {
		if (nla_type(entry) != TCA_TDMA_WINDOW_ENTRY) {
			NL_SET_ERR_MSG_ATTR(extack, entry,
					    "tdma: unexpected attribute in windows");
			return -EINVAL;
		}
		if (n >= TDMA_MAX_WINDOWS) {
			NL_SET_ERR_MSG_ATTR(extack, entry,
					    "tdma: too many windows (max TDMA_MAX_WINDOWS = 16)");
			return -EINVAL;
		}
		err = nla_parse_nested(tb, TCA_TDMA_WIN_MAX, entry,
				       tdma_win_policy, extack);
		if (err < 0)
			return err;
		if (!tb[TCA_TDMA_WIN_OFFSET_NS] || !tb[TCA_TDMA_WIN_LENGTH_NS]) {
			tdma_err_attr(extack, entry,
				      tdma_msg_win_missing[n]);
			return -EINVAL;
		}
		off = nla_get_u64(tb[TCA_TDMA_WIN_OFFSET_NS]);
		len = nla_get_u64(tb[TCA_TDMA_WIN_LENGTH_NS]);
		if (!len) {
			tdma_err_attr(extack, tb[TCA_TDMA_WIN_LENGTH_NS],
				      tdma_msg_win_zero[n]);
			return -EINVAL;
		}
		if (len < TDMA_MIN_WINDOW_NS) {
			tdma_err_attr(extack, tb[TCA_TDMA_WIN_LENGTH_NS],
				      tdma_msg_win_short[n]);
			return -EINVAL;
		}
		if (len > s->frame_ns || off > s->frame_ns - len) {
			tdma_err_attr(extack, entry,
				      tdma_msg_win_past[n]);
			return -EINVAL;
		}
		if (n && off < s->win[n - 1].offset) {
			tdma_err_attr(extack, entry,
				      tdma_msg_win_order[n]);
			return -EINVAL;
		}
		if (n && off < prev_end) {
			tdma_err_attr(extack, entry,
				      tdma_msg_win_overlap[n]);
			return -EINVAL;
		}
		s->win[n].offset = off;
		s->win[n].length = len;
		prev_end = off + len;
		n++;
	}
	if (rem > 0) {
		NL_SET_ERR_MSG_ATTR(extack, windows,
				    "tdma: trailing bytes after the windows");
		return -EINVAL;
	}
	if (!n) {
		NL_SET_ERR_MSG_ATTR(extack, windows,
				    "tdma: at least one window is required");
		return -EINVAL;
	}
	s->nr = n;
	return 0;
}

/*
 * Build and validate a schedule from TCA_OPTIONS. @running_clock is the
 * qdisc's clockid on change, -1 on init. Absent optional attributes take
 * their defaults, except the clockid, which on change defaults to the
 * running one (and may not differ from it).
 */
static int tdma_parse(struct nlattr *opt, clockid_t running_clock,
		      struct tdma_sched **out, bool *has_change_at,
		      s64 *change_at, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[TCA_TDMA_MAX + 1];
	struct tdma_sched *s;
	u64 frame, v;
	s64 base;
	int err;
	u32 i;

	err = nla_parse_nested(tb, TCA_TDMA_MAX, opt, tdma_policy, extack);
	if (err < 0)
		return err;

	if (!tb[TCA_TDMA_FRAME_NS]) {
		NL_SET_ERR_MSG_ATTR(extack, opt, "tdma: frame_ns is required");
		return -EINVAL;
	}
	frame = nla_get_u64(tb[TCA_TDMA_FRAME_NS]);
	if (frame < TDMA_MIN_FRAME_NS) {
		NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_FRAME_NS],
				    "tdma: frame_ns below TDMA_MIN_FRAME_NS (10 us)");
		return -EINVAL;
	}
	if (frame > TDMA_MAX_FRAME_NS) {
		NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_FRAME_NS],
				    "tdma: frame_ns above TDMA_MAX_FRAME_NS (10 s)");
		return -EINVAL;
	}
	if (!tb[TCA_TDMA_WINDOWS]) {
		NL_SET_ERR_MSG_ATTR(extack, opt,
				    "tdma: at least one window is required");
		return -EINVAL;
	}

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->frame_ns = frame;
	s->limit = TDMA_DEFAULT_LIMIT;
	s->clockid = running_clock >= 0 ? running_clock : CLOCK_TAI;

	if (tb[TCA_TDMA_CLOCKID]) {
		s->clockid = nla_get_s32(tb[TCA_TDMA_CLOCKID]);
		switch (s->clockid) {
		case CLOCK_TAI:
		case CLOCK_MONOTONIC:
		case CLOCK_REALTIME:
		case CLOCK_BOOTTIME:
			break;
		default:
			NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_CLOCKID],
					    "tdma: unsupported clockid (use TAI, MONOTONIC, REALTIME or BOOTTIME)");
			err = -EINVAL;
			goto err;
		}
		if (running_clock >= 0 && s->clockid != running_clock) {
			NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_CLOCKID],
					    "tdma: cannot change the clockid of a running qdisc (delete and add it)");
			err = -EOPNOTSUPP;
			goto err;
		}
	}

	if (tb[TCA_TDMA_BASE_TIME]) {
		base = nla_get_s64(tb[TCA_TDMA_BASE_TIME]);
		if (base > TDMA_MAX_ABS_TIME || base < -TDMA_MAX_ABS_TIME) {
			NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_BASE_TIME],
					    "tdma: base_time out of range (|base_time| > 2^62 ns)");
			err = -ERANGE;
			goto err;
		}
		s->base_time = base;
	}

	if (tb[TCA_TDMA_LIMIT]) {
		s->limit = nla_get_u32(tb[TCA_TDMA_LIMIT]);
		if (!s->limit) {
			NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_LIMIT],
					    "tdma: limit must be at least 1 packet");
			err = -EINVAL;
			goto err;
		}
		if (s->limit > TDMA_MAX_LIMIT) {
			NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_LIMIT],
					    "tdma: limit above TDMA_MAX_LIMIT (1000000 packets)");
			err = -EINVAL;
			goto err;
		}
	}

	if (tb[TCA_TDMA_RATE])
		s->rate = nla_get_u64(tb[TCA_TDMA_RATE]);

	if (tb[TCA_TDMA_GUARD_NS])
		s->guard_ns = nla_get_u64(tb[TCA_TDMA_GUARD_NS]);

	err = tdma_parse_windows(s, tb[TCA_TDMA_WINDOWS], extack);
	if (err)
		goto err;

	for (i = 0; i < s->nr; i++) {
		if (s->guard_ns >= s->win[i].length) {
			tdma_err_attr(extack, tb[TCA_TDMA_GUARD_NS],
				      tdma_msg_win_guard[i]);
			err = -EINVAL;
			goto err;
		}
		s->max_usable = max(s->max_usable,
				    s->win[i].length - s->guard_ns);
	}

	*has_change_at = !!tb[TCA_TDMA_CHANGE_AT];
	if (*has_change_at) {
		v = nla_get_u64(tb[TCA_TDMA_CHANGE_AT]);
		if (v > TDMA_MAX_ABS_TIME) {
			NL_SET_ERR_MSG_ATTR(extack, tb[TCA_TDMA_CHANGE_AT],
					    "tdma: change_at out of range (> 2^62 ns)");
			err = -ERANGE;
			goto err;
		}
		*change_at = v;
	}

	*out = s;
	return 0;
err:
	kfree(s);
	return err;
}

static int tdma_init(struct Qdisc *sch, struct nlattr *opt,
		     struct netlink_ext_ack *extack)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct tdma_sched *s;
	bool has_at;
	s64 at, now;
	int err;

	/* First, so that destroy (also called when init fails) can cancel. */
	q->clockid = CLOCK_TAI;
	qdisc_watchdog_init_clockid(&q->wd, sch, CLOCK_TAI);
	q->next_frame_start = S64_MIN;

	if (!opt) {
		NL_SET_ERR_MSG(extack,
			       "tdma: a schedule is required (configure the qdisc with tdmactl)");
		return -EINVAL;
	}

	err = tdma_parse(opt, -1, &s, &has_at, &at, extack);
	if (err)
		return err;

	/* The timer never ran yet: safe to re-create it on the right clock. */
	if (s->clockid != CLOCK_TAI)
		qdisc_watchdog_init_clockid(&q->wd, sch, s->clockid);
	q->clockid = s->clockid;

	/* On init the schedule applies at once; change_at is ignored. */
	now = tdma_now(q);
	s->activate_at = now;
	rcu_assign_pointer(q->cur, s);
	trace_tdma_change(sch, 0, 0, s->frame_ns, s->nr, now, now);
	return 0;
}

static int tdma_change(struct Qdisc *sch, struct nlattr *opt,
		       struct netlink_ext_ack *extack)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct tdma_sched *cur, *s, *old;
	s64 at = 0, now, fstart;
	u64 old_frame;
	u32 old_nr;
	bool has_at;
	int err;

	if (!opt) {
		NL_SET_ERR_MSG(extack,
			       "tdma: a schedule is required (configure the qdisc with tdmactl)");
		return -EINVAL;
	}

	/* Validate everything before touching the running state. */
	err = tdma_parse(opt, q->clockid, &s, &has_at, &at, extack);
	if (err)
		return err;

	/*
	 * The datapath may retire q->cur at any time (kfree_rcu), so the
	 * running schedule is only looked at under the tree lock, after
	 * applying a pending schedule whose time has already come.
	 */
	sch_tree_lock(sch);
	now = tdma_now(q);
	cur = tdma_advance(sch, q, now);

	/*
	 * Activation: change_at rounded up to a frame boundary of the running
	 * schedule, never in the past; absent, the next boundary after now.
	 */
	if (!has_at || at < now)
		at = has_at ? now : now + 1;
	tdma_frame_of(cur, at, &fstart);
	s->activate_at = fstart == at ? at : fstart + cur->frame_ns;
	old_frame = cur->frame_ns;
	old_nr = cur->nr;

	old = rcu_dereference_protected(q->pending,
					lockdep_is_held(qdisc_lock(qdisc_root_sleeping(sch))));
	rcu_assign_pointer(q->pending, s);
	if (sch->q.qlen)
		tdma_arm(q, s->activate_at);
	trace_tdma_change(sch, old_frame, old_nr, s->frame_ns, s->nr,
			  s->activate_at, now);
	sch_tree_unlock(sch);

	if (old)
		kfree_rcu(old, rcu);
	return 0;
}

static void tdma_destroy(struct Qdisc *sch)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct tdma_sched *s;

	qdisc_watchdog_cancel(&q->wd);
	if (sch->q.qlen) {
		tdma_trace_purge(sch);
		qdisc_reset_queue(sch);
	}
	tdma_close(sch, q, tdma_now(q));

	s = rcu_dereference_protected(q->pending, 1);
	RCU_INIT_POINTER(q->pending, NULL);
	if (s)
		kfree_rcu(s, rcu);
	s = rcu_dereference_protected(q->cur, 1);
	RCU_INIT_POINTER(q->cur, NULL);
	if (s)
		kfree_rcu(s, rcu);
}

static int tdma_dump(struct Qdisc *sch, struct sk_buff *skb)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct nlattr *nest, *wins, *entry;
	struct tdma_sched *s;
	u32 i;

	rcu_read_lock();
	s = rcu_dereference(q->pending);
	if (!s)
		s = rcu_dereference(q->cur);
	if (!s) {
		rcu_read_unlock();
		return -EINVAL;
	}

	nest = nla_nest_start(skb, TCA_OPTIONS);
	if (!nest)
		goto err;
	if (nla_put_u64_64bit(skb, TCA_TDMA_FRAME_NS, s->frame_ns,
			      TCA_TDMA_PAD) ||
	    nla_put_s64(skb, TCA_TDMA_BASE_TIME, s->base_time, TCA_TDMA_PAD) ||
	    nla_put_s32(skb, TCA_TDMA_CLOCKID, s->clockid) ||
	    nla_put_u64_64bit(skb, TCA_TDMA_GUARD_NS, s->guard_ns,
			      TCA_TDMA_PAD) ||
	    nla_put_u32(skb, TCA_TDMA_LIMIT, s->limit) ||
	    nla_put_u64_64bit(skb, TCA_TDMA_RATE, s->rate, TCA_TDMA_PAD))
		goto err_cancel;

	wins = nla_nest_start(skb, TCA_TDMA_WINDOWS);
	if (!wins)
		goto err_cancel;
	for (i = 0; i < s->nr; i++) {
		entry = nla_nest_start(skb, TCA_TDMA_WINDOW_ENTRY);
		if (!entry)
			goto err_cancel;
		if (nla_put_u64_64bit(skb, TCA_TDMA_WIN_OFFSET_NS,
				      s->win[i].offset, TCA_TDMA_WIN_PAD) ||
		    nla_put_u64_64bit(skb, TCA_TDMA_WIN_LENGTH_NS,
				      s->win[i].length, TCA_TDMA_WIN_PAD))
			goto err_cancel;
		nla_nest_end(skb, entry);
	}
	nla_nest_end(skb, wins);

	if (nla_put_u64_64bit(skb, TCA_TDMA_CHANGE_AT, (u64)s->activate_at,
			      TCA_TDMA_PAD))
		goto err_cancel;

	rcu_read_unlock();
	return nla_nest_end(skb, nest);

err_cancel:
	nla_nest_cancel(skb, nest);
err:
	rcu_read_unlock();
	return -EMSGSIZE;
}

/* Called under the qdisc root lock (gnet_stats_start_copy takes it). */
static int tdma_dump_stats(struct Qdisc *sch, struct gnet_dump *d)
{
	struct tdma_sched_data *q = qdisc_priv(sch);
	struct tc_tdma_xstats st = {
		.frames			= q->frames,
		.windows_opened		= q->windows_opened,
		.deferred		= q->deferred,
		.dropped_limit		= q->dropped_limit,
		.dropped_too_big	= q->dropped_too_big,
		.late			= q->late,
		.overrun		= q->overrun,
		.changes		= q->changes,
	};
	struct tdma_sched *s = tdma_cur(q);

	if (s) {
		st.nr_windows = s->nr;
		memcpy(st.window, q->wstats, sizeof(st.window));
	}
	return gnet_stats_copy_app(d, &st, sizeof(st));
}

static struct Qdisc_ops tdma_qdisc_ops __read_mostly = {
	.id		= "tdma",
	.priv_size	= sizeof(struct tdma_sched_data),
	.enqueue	= tdma_enqueue,
	.dequeue	= tdma_dequeue,
	.peek		= tdma_peek,
	.init		= tdma_init,
	.reset		= tdma_reset,
	.destroy	= tdma_destroy,
	.change		= tdma_change,
	.dump		= tdma_dump,
	.dump_stats	= tdma_dump_stats,
	.owner		= THIS_MODULE,
};

static int __init tdma_module_init(void)
{
	return register_qdisc(&tdma_qdisc_ops);
}

static void __exit tdma_module_exit(void)
{
	unregister_qdisc(&tdma_qdisc_ops);
}

module_init(tdma_module_init);
module_exit(tdma_module_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Time-division (TDMA) window scheduler");
