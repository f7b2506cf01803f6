/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the sch_tdma qdisc (TRACE_SYSTEM tdma).
 *
 * The TP_PROTO argument lists (types and order) are a fixed contract: a BPF
 * raw tracepoint program reads them by position as u64 arguments. Do not
 * reorder, insert or remove arguments. The ring-buffer records
 * (TP_STRUCT__entry) and the text format are free to change.
 *
 * All *_ns times are on the qdisc's schedule clock (its clockid), except
 * waited_ns and left_ns, which are differences on that clock.
 *
 * tdma_window_close is emitted lazily, when the qdisc next runs after the
 * window's scheduled end (an enqueue or dequeue, a dequeue in another window,
 * reset, destroy or a schedule switch). Its timestamp (and now_ns) may
 * therefore be much later than the window's end; end_ns carries the
 * scheduled end so that consumers need not rely on the event time.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM tdma

#if !defined(_TDMA_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TDMA_TRACE_H

#include <linux/tracepoint.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/sch_generic.h>

/* Cheap identity of a qdisc: device ifindex and handle. */
#define TDMA_TP_QDISC_FIELDS			\
	__field(int, ifindex)			\
	__field(u32, handle)

#define TDMA_TP_QDISC_ASSIGN(sch) do {				\
	__entry->ifindex = qdisc_dev(sch)->ifindex;		\
	__entry->handle = (sch)->handle;			\
} while (0)

#define TDMA_TP_QDISC_FMT	"dev=%d handle=%x:%x"
#define TDMA_TP_QDISC_ARGS	__entry->ifindex,			\
				__entry->handle >> 16,			\
				__entry->handle & 0xffff

/* 1. After a successful enqueue; qlen includes skb, backlog in bytes. */
TRACE_EVENT(tdma_enqueue,

	TP_PROTO(struct Qdisc *sch, struct sk_buff *skb, u32 qlen, u32 backlog),

	TP_ARGS(sch, skb, qlen, backlog),

	TP_STRUCT__entry(
		TDMA_TP_QDISC_FIELDS
		__field(const void *, skbaddr)
		__field(u32, len)
		__field(u32, qlen)
		__field(u32, backlog)
	),

	TP_fast_assign(
		TDMA_TP_QDISC_ASSIGN(sch);
		__entry->skbaddr = skb;
		__entry->len = qdisc_pkt_len(skb);
		__entry->qlen = qlen;
		__entry->backlog = backlog;
	),

	TP_printk(TDMA_TP_QDISC_FMT " skbaddr=%p len=%u qlen=%u backlog=%u",
		  TDMA_TP_QDISC_ARGS, __entry->skbaddr, __entry->len,
		  __entry->qlen, __entry->backlog)
);

/*
 * 2. A packet leaves the qdisc. left_ns = scheduled window end (offset +
 * length, guard included) minus now; waited_ns = now - enqueue time;
 * qlen after the dequeue.
 */
TRACE_EVENT(tdma_dequeue,

	TP_PROTO(struct Qdisc *sch, struct sk_buff *skb, u32 window, s64 frame,
		 s64 left_ns, u64 waited_ns, u32 qlen),

	TP_ARGS(sch, skb, window, frame, left_ns, waited_ns, qlen),

	TP_STRUCT__entry(
		TDMA_TP_QDISC_FIELDS
		__field(const void *, skbaddr)
		__field(u32, len)
		__field(u32, window)
		__field(s64, frame)
		__field(s64, left_ns)
		__field(u64, waited_ns)
		__field(u32, qlen)
	),

	TP_fast_assign(
		TDMA_TP_QDISC_ASSIGN(sch);
		__entry->skbaddr = skb;
		__entry->len = qdisc_pkt_len(skb);
		__entry->window = window;
		__entry->frame = frame;
		__entry->left_ns = left_ns;
		__entry->waited_ns = waited_ns;
		__entry->qlen = qlen;
	),

	TP_printk(TDMA_TP_QDISC_FMT " skbaddr=%p len=%u window=%u frame=%lld left_ns=%lld waited_ns=%llu qlen=%u",
		  TDMA_TP_QDISC_ARGS, __entry->skbaddr, __entry->len,
		  __entry->window, __entry->frame, __entry->left_ns,
		  __entry->waited_ns, __entry->qlen)
);

/* 3. A packet is dropped; reason is enum tdma_drop_reason, qlen after. */
TRACE_EVENT(tdma_drop,

	TP_PROTO(struct Qdisc *sch, struct sk_buff *skb, u32 reason, u32 qlen),

	TP_ARGS(sch, skb, reason, qlen),

	TP_STRUCT__entry(
		TDMA_TP_QDISC_FIELDS
		__field(const void *, skbaddr)
		__field(u32, len)
		__field(u32, reason)
		__field(u32, qlen)
	),

	TP_fast_assign(
		TDMA_TP_QDISC_ASSIGN(sch);
		__entry->skbaddr = skb;
		__entry->len = qdisc_pkt_len(skb);
		__entry->reason = reason;
		__entry->qlen = qlen;
	),

	TP_printk(TDMA_TP_QDISC_FMT " skbaddr=%p len=%u reason=%s qlen=%u",
		  TDMA_TP_QDISC_ARGS, __entry->skbaddr, __entry->len,
		  __print_symbolic(__entry->reason,
				   { 1, "LIMIT" }, { 2, "TOO_BIG" },
				   { 3, "PURGE" }),
		  __entry->qlen)
);

/*
 * 4. The qdisc first services (frame, window) while packets are queued.
 * start_ns/end_ns: the window's scheduled times (end includes the guard);
 * now_ns: the clock when emitted.
 */
TRACE_EVENT(tdma_window_open,

	TP_PROTO(struct Qdisc *sch, u32 window, s64 frame, s64 start_ns,
		 s64 end_ns, s64 now_ns, u32 qlen),

	TP_ARGS(sch, window, frame, start_ns, end_ns, now_ns, qlen),

	TP_STRUCT__entry(
		TDMA_TP_QDISC_FIELDS
		__field(u32, window)
		__field(s64, frame)
		__field(s64, start_ns)
		__field(s64, end_ns)
		__field(s64, now_ns)
		__field(u32, qlen)
	),

	TP_fast_assign(
		TDMA_TP_QDISC_ASSIGN(sch);
		__entry->window = window;
		__entry->frame = frame;
		__entry->start_ns = start_ns;
		__entry->end_ns = end_ns;
		__entry->now_ns = now_ns;
		__entry->qlen = qlen;
	),

	TP_printk(TDMA_TP_QDISC_FMT " window=%u frame=%lld start_ns=%lld end_ns=%lld now_ns=%lld delay_ns=%lld qlen=%u",
		  TDMA_TP_QDISC_ARGS, __entry->window, __entry->frame,
		  __entry->start_ns, __entry->end_ns, __entry->now_ns,
		  __entry->now_ns - __entry->start_ns, __entry->qlen)
);

/*
 * 5. A window that was opened is over; packets/bytes sent in it. Emitted
 * lazily (see the top of this file): now_ns may be later than end_ns.
 */
TRACE_EVENT(tdma_window_close,

	TP_PROTO(struct Qdisc *sch, u32 window, s64 frame, s64 end_ns,
		 s64 now_ns, u32 packets, u64 bytes, u32 qlen),

	TP_ARGS(sch, window, frame, end_ns, now_ns, packets, bytes, qlen),

	TP_STRUCT__entry(
		TDMA_TP_QDISC_FIELDS
		__field(u32, window)
		__field(s64, frame)
		__field(s64, end_ns)
		__field(s64, now_ns)
		__field(u32, packets)
		__field(u64, bytes)
		__field(u32, qlen)
	),

	TP_fast_assign(
		TDMA_TP_QDISC_ASSIGN(sch);
		__entry->window = window;
		__entry->frame = frame;
		__entry->end_ns = end_ns;
		__entry->now_ns = now_ns;
		__entry->packets = packets;
		__entry->bytes = bytes;
		__entry->qlen = qlen;
	),

	TP_printk(TDMA_TP_QDISC_FMT " window=%u frame=%lld end_ns=%lld now_ns=%lld packets=%u bytes=%llu qlen=%u",
		  TDMA_TP_QDISC_ARGS, __entry->window, __entry->frame,
		  __entry->end_ns, __entry->now_ns, __entry->packets,
		  __entry->bytes, __entry->qlen)
);

/*
 * 6. A schedule was accepted (init: old_* = 0). effective_ns is the
 * activation time on the schedule clock, now_ns the clock when accepted.
 */
TRACE_EVENT(tdma_change,

	TP_PROTO(struct Qdisc *sch, u64 old_frame_ns, u32 old_windows,
		 u64 new_frame_ns, u32 new_windows, s64 effective_ns,
		 s64 now_ns),

	TP_ARGS(sch, old_frame_ns, old_windows, new_frame_ns, new_windows,
		effective_ns, now_ns),

	TP_STRUCT__entry(
		TDMA_TP_QDISC_FIELDS
		__field(u64, old_frame_ns)
		__field(u32, old_windows)
		__field(u64, new_frame_ns)
		__field(u32, new_windows)
		__field(s64, effective_ns)
		__field(s64, now_ns)
	),

	TP_fast_assign(
		TDMA_TP_QDISC_ASSIGN(sch);
		__entry->old_frame_ns = old_frame_ns;
		__entry->old_windows = old_windows;
		__entry->new_frame_ns = new_frame_ns;
		__entry->new_windows = new_windows;
		__entry->effective_ns = effective_ns;
		__entry->now_ns = now_ns;
	),

	TP_printk(TDMA_TP_QDISC_FMT " old_frame_ns=%llu old_windows=%u new_frame_ns=%llu new_windows=%u effective_ns=%lld now_ns=%lld",
		  TDMA_TP_QDISC_ARGS, __entry->old_frame_ns,
		  __entry->old_windows, __entry->new_frame_ns,
		  __entry->new_windows, __entry->effective_ns,
		  __entry->now_ns)
);

#endif /* _TDMA_TRACE_H */

/* This part must be outside the multi-read protection. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE tdma_trace
#include <trace/define_trace.h>
