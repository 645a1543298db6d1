/* allowance.h — this replica's share of a fleet-wide counter, held here so
 * that most requests against a shared limit are decided without a round trip
 * to Redis.
 *
 * The idea is a credit, taken in advance: the replica asks the shared
 * counter for a grant of g units with the same Lua script that counts a
 * request (delta g, checked against the limit), so the grant is counted in
 * the fleet's total before any of it is handed out, and only if it fits.
 * Requests then spend the credit here, each its own delta, with no round
 * trip.  Every unit a request spends was counted in Redis first, so the
 * fleet never admits more than the limit: the fast path is as strict an
 * upper bound as one script call per request.  What it gives up is the
 * other side: credit held by one replica and not spent cannot serve another
 * until it is given back.  The rules below keep that small and short:
 *
 *  - A grant is counted in the store's current bucket (one second of a
 *    sliding minute) and is spent only while that bucket is current; the
 *    end is worked out from the store's clock, early rather than late.  A
 *    request admitted from credit therefore leaves the window when it would
 *    have with its own script call.  Whatever is left when the bucket ends
 *    is given back to that same bucket.  A fixed window (one bucket) holds a
 *    grant at most CMX_ALLOWANCE_MAX_HOLD_MS.
 *  - A grant covers about CMX_ALLOWANCE_HORIZON_MS of this replica's own
 *    demand, and never more than 1/CMX_ALLOWANCE_SHARE of the room the fleet
 *    had at the last answer nor 1/CMX_ALLOWANCE_LIMIT_SHARE of the limit.
 *    When that is less than CMX_ALLOWANCE_MIN_REQUESTS requests' worth, no
 *    grant is asked: near the limit, and always for a small limit (an rpm
 *    under 512), every request goes to the script one by one, as without an
 *    allowance.  Credit a replica holds and does not spend is therefore at
 *    most 1/128 of the limit, and only until its bucket ends.
 *  - A request that finds no credit while a grant asked on the same worker
 *    is on its way, and big enough for it after the requests already
 *    waiting, waits for that grant instead of asking alone (state_
 *    allowance.c), so a grant is first spent by the demand that asked for it.
 *  - The fleet's total is learned from every answer (grants and single
 *    requests alike); one older than CMX_ALLOWANCE_STALE_MS sizes no grant,
 *    so the first request after a quiet spell asks the store itself.
 *  - Additions that need no check (settling a reservation) are gathered and
 *    sent together within CMX_ALLOWANCE_SETTLE_MS.
 *
 * Pure arithmetic on times the caller passes (milliseconds of a monotonic
 * clock): no I/O, no lock.  state_counters.c holds the lock and talks to
 * Redis. */
#ifndef CMX_STATE_ALLOWANCE_H
#define CMX_STATE_ALLOWANCE_H

#include <stdbool.h>
#include <stdint.h>

#define CMX_ALLOWANCE_HORIZON_MS 25
#define CMX_ALLOWANCE_SHARE 8
#define CMX_ALLOWANCE_LIMIT_SHARE 128
#define CMX_ALLOWANCE_MIN_REQUESTS 4
#define CMX_ALLOWANCE_STALE_MS 1000
#define CMX_ALLOWANCE_MAX_HOLD_MS 1000
#define CMX_ALLOWANCE_SETTLE_MS 10

typedef struct cmx_allowance {
    int64_t credit;          /* units counted in the store and not spent yet */
    uint64_t spend_until_ms; /* the credit is spent only before this */
    uint64_t bucket;         /* the store's bucket the credit is counted in */
    int64_t total;           /* the fleet's total at the last answer */
    uint64_t total_ms;       /* when it was learned; 0: never */
    int64_t demand;          /* units asked for since demand_since_ms */
    uint64_t demand_since_ms;
    double rate;     /* units per ms, smoothed; 0 until measured */
    int64_t typical; /* the largest delta of a request lately: sizes the smallest grant */
    int64_t peak;    /* the largest since the last grant was asked */
    int asking;      /* a grant request is in flight */
    int64_t unsent;  /* unchecked additions not sent yet */
    uint64_t send_by_ms;
} cmx_allowance;

/* Can a request of `delta` be admitted from the credit at now_ms? */
bool cmx_allowance_covers(const cmx_allowance *a, uint64_t now_ms, int64_t delta);
/* Admits it: the credit goes down by delta. */
void cmx_allowance_spend(cmx_allowance *a, int64_t delta);
/* Every request asked of the counter, however it is decided: the demand
 * that sizes the next grant. */
void cmx_allowance_note_demand(cmx_allowance *a, uint64_t now_ms, int64_t delta);

/* The grant worth asking for now against `limit`, or 0: one is in flight,
 * the credit still covers half of it, the fleet's total is unknown or
 * stale, or the room is too small to share. */
int64_t cmx_allowance_grant_size(const cmx_allowance *a, uint64_t now_ms, int64_t limit);
/* A grant of that size was sent at now_ms: the demand so far becomes the
 * rate, and no other is asked until the answer. */
void cmx_allowance_asked(cmx_allowance *a, uint64_t now_ms);

/* What a give-back holds: units to subtract from one bucket of the store. */
typedef struct cmx_allowance_return {
    int64_t units; /* 0: nothing to give back */
    uint64_t bucket;
} cmx_allowance_return;

/* The store's answer to a grant sent at sent_ms and answered at now_ms:
 * granted or not, the fleet's total after it, and the store's clock when it
 * ran (store_ms) with the counter's bucket length.  Credit of an earlier
 * bucket (or a grant whose bucket was over before it arrived) comes back in
 * the return. */
cmx_allowance_return cmx_allowance_answered(cmx_allowance *a, uint64_t sent_ms, uint64_t now_ms,
                                            bool granted, int64_t grant, int64_t total,
                                            uint64_t store_ms, uint64_t bucket_ms);
/* The answer never came (timeout, lost connection): nothing is held. */
void cmx_allowance_unanswered(cmx_allowance *a);
/* A total learned from another answer (a request decided by the store). */
void cmx_allowance_learn_total(cmx_allowance *a, uint64_t now_ms, int64_t total);

/* Credit whose time is over, taken out to be given back. */
cmx_allowance_return cmx_allowance_expire(cmx_allowance *a, uint64_t now_ms);
/* Credit dropped without a give-back (the store may have lost it). */
void cmx_allowance_drop(cmx_allowance *a);

/* An unchecked addition, to be sent by now_ms + CMX_ALLOWANCE_SETTLE_MS. */
void cmx_allowance_defer(cmx_allowance *a, uint64_t now_ms, int64_t delta);
/* The unsent additions when they are due (0 otherwise), taken out. */
int64_t cmx_allowance_take_unsent(cmx_allowance *a, uint64_t now_ms);

/* When the next give-back or send is due; UINT64_MAX when nothing is. */
uint64_t cmx_allowance_due(const cmx_allowance *a);
/* Nothing held, asked or unsent: the record may go. */
bool cmx_allowance_idle(const cmx_allowance *a);

#endif
