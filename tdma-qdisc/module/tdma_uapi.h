/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sch_tdma: netlink interface shared by the kernel module and tdmactl.
 *
 * tdmactl (Rust) mirrors every constant and struct below; a test in
 * tdma-qdisc/tdmactl compiles this header with gcc and compares values,
 * sizes and offsets, so the two sides cannot drift apart.
 *
 * All times are nanoseconds. Offsets of windows are measured from the start
 * of a frame; frame k of the schedule starts at base_time + k * frame_ns on
 * the qdisc's clock (clockid).
 */
#ifndef _UAPI_SCH_TDMA_H
#define _UAPI_SCH_TDMA_H

#include <linux/types.h>

#define TDMA_MAX_WINDOWS	16

/* Bounds enforced by the module (validation errors name them). */
#define TDMA_MIN_FRAME_NS	10000ULL		/* 10 us */
#define TDMA_MAX_FRAME_NS	10000000000ULL		/* 10 s */
#define TDMA_MIN_WINDOW_NS	1000ULL			/* 1 us */
#define TDMA_MAX_LIMIT		1000000U		/* packets */
#define TDMA_DEFAULT_LIMIT	1000U

/* Top level attributes inside TCA_OPTIONS. */
enum {
	TCA_TDMA_UNSPEC,
	TCA_TDMA_FRAME_NS,	/* u64, required on add */
	TCA_TDMA_BASE_TIME,	/* s64, clock time of frame 0; default 0 */
	TCA_TDMA_CLOCKID,	/* s32, CLOCK_TAI (default), _MONOTONIC, _REALTIME, _BOOTTIME */
	TCA_TDMA_GUARD_NS,	/* u64, no dequeue in the last guard_ns of a window */
	TCA_TDMA_LIMIT,		/* u32, queue limit in packets */
	TCA_TDMA_RATE,		/* u64, link rate in bytes/s; 0 = unknown (no fit check) */
	TCA_TDMA_WINDOWS,	/* nested: TCA_TDMA_WINDOW_ENTRY, in offset order */
	TCA_TDMA_CHANGE_AT,	/* u64, change/dump: clock time the schedule takes effect.
				 * On change it is rounded up to a frame boundary of the
				 * running schedule; absent = the next frame boundary. */
	TCA_TDMA_PAD,
	__TCA_TDMA_MAX,
};
#define TCA_TDMA_MAX (__TCA_TDMA_MAX - 1)

/* Inside TCA_TDMA_WINDOWS. */
enum {
	TCA_TDMA_WINDOWS_UNSPEC,
	TCA_TDMA_WINDOW_ENTRY,	/* nested: TCA_TDMA_WIN_* */
	__TCA_TDMA_WINDOWS_MAX,
};
#define TCA_TDMA_WINDOWS_MAX (__TCA_TDMA_WINDOWS_MAX - 1)

/* Inside TCA_TDMA_WINDOW_ENTRY. */
enum {
	TCA_TDMA_WIN_UNSPEC,
	TCA_TDMA_WIN_OFFSET_NS,	/* u64, from frame start */
	TCA_TDMA_WIN_LENGTH_NS,	/* u64 */
	TCA_TDMA_WIN_PAD,
	__TCA_TDMA_WIN_MAX,
};
#define TCA_TDMA_WIN_MAX (__TCA_TDMA_WIN_MAX - 1)

/* Why a packet was dropped (tdma_drop tracepoint, xstats). */
enum tdma_drop_reason {
	TDMA_DROP_LIMIT = 1,	/* queue full at enqueue */
	TDMA_DROP_TOO_BIG,	/* cannot fit in any window at the configured rate */
	TDMA_DROP_PURGE,	/* queue reset or qdisc destroyed with packets queued */
};

/* Per-window counters in the xstats. */
struct tc_tdma_window_stats {
	__u64	packets;
	__u64	bytes;
};

/* TCA_STATS_APP payload (dump_stats). */
struct tc_tdma_xstats {
	__u64	frames;			/* frame boundaries passed while active */
	__u64	windows_opened;		/* windows entered with packets queued */
	__u64	deferred;		/* dequeue calls that found packets but no open window */
	__u64	dropped_limit;
	__u64	dropped_too_big;
	__u64	late;			/* windows serviced > 1/8 of their length after opening */
	__u64	overrun;		/* packets whose transmission ends after their window (rate known) */
	__u64	changes;		/* schedules applied by change */
	__u32	nr_windows;		/* valid entries of window[] */
	__u32	pad;
	struct tc_tdma_window_stats window[TDMA_MAX_WINDOWS];
};

#endif /* _UAPI_SCH_TDMA_H */
