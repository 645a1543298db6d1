/* keyring.h — the table the request path finds virtual keys in.
 *
 * An immutable snapshot: every key and team (from the config and the
 * store), and an open-addressing table from secret digests to keys.  The
 * digests are uniformly random, so their first eight bytes index the table
 * directly; a probe compares the whole digest with CRYPTO_memcmp (constant
 * time) and allocates nothing.  A rotated-out secret has its own slot with
 * the time it stops working.  Snapshots are reference-counted: the
 * governance publishes a new one when keys change and each worker swaps to
 * it between requests; a request holds a reference on its key, not on the
 * snapshot. */
#ifndef CMX_GOVERNANCE_KEYRING_H
#define CMX_GOVERNANCE_KEYRING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "governance/key_secret.h"
#include "governance/policy.h"
#include "store/store.h"

typedef struct cmx_keyring_slot {
    uint8_t digest[CMX_DIGEST_LEN];
    int64_t not_after_ms; /* 0: no end */
    cmx_gov_key *key;     /* NULL: empty slot */
} cmx_keyring_slot;

typedef struct cmx_keyring {
    atomic_int refs;
    cmx_gov_team **teams;
    size_t n_teams;
    cmx_gov_key **keys;
    size_t n_keys;
    cmx_keyring_slot *slots;
    size_t mask;
} cmx_keyring;

/* Builds the snapshot from the config's keys and teams and the store's
 * (snap may be NULL).  An id defined in both is the config's; the clash is
 * logged.  Returns NULL when out of memory. */
cmx_keyring *cmx_keyring_build(const cmx_config *cfg, const cmx_store_snapshot *snap,
                               const cmx_key_hasher *hasher, cmx_gov_usage_registry *registry,
                               cmx_error *err);
cmx_keyring *cmx_keyring_ref(cmx_keyring *kr);
void cmx_keyring_unref(cmx_keyring *kr);

/* The slot whose digest equals `digest`, or NULL. */
const cmx_keyring_slot *cmx_keyring_find(const cmx_keyring *kr,
                                         const uint8_t digest[CMX_DIGEST_LEN]);
cmx_gov_key *cmx_keyring_key(const cmx_keyring *kr, const char *id);
cmx_gov_team *cmx_keyring_team(const cmx_keyring *kr, const char *id);

#endif
