/* keyring.c — building and probing the key table; see keyring.h. */
#include "governance/keyring.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "governance/admin_records.h"

static size_t slot_of(const uint8_t digest[CMX_DIGEST_LEN], size_t mask)
{
    uint64_t v;
    memcpy(&v, digest, sizeof v);
    return (size_t)v & mask;
}

const cmx_keyring_slot *cmx_keyring_find(const cmx_keyring *kr,
                                         const uint8_t digest[CMX_DIGEST_LEN])
{
    if (!kr || !kr->slots)
        return NULL;
    for (size_t at = slot_of(digest, kr->mask); kr->slots[at].key; at = (at + 1) & kr->mask)
        if (CRYPTO_memcmp(kr->slots[at].digest, digest, CMX_DIGEST_LEN) == 0)
            return &kr->slots[at];
    return NULL;
}

static void add_slot(cmx_keyring *kr, const uint8_t digest[CMX_DIGEST_LEN], int64_t not_after,
                     cmx_gov_key *key)
{
    size_t at = slot_of(digest, kr->mask);
    while (kr->slots[at].key) {
        if (memcmp(kr->slots[at].digest, digest, CMX_DIGEST_LEN) == 0) {
            cmx_warn("keys: keys '%s' and '%s' have the same secret; only '%s' can be used",
                     kr->slots[at].key->p.id, key->p.id, kr->slots[at].key->p.id);
            return;
        }
        at = (at + 1) & kr->mask;
    }
    memcpy(kr->slots[at].digest, digest, CMX_DIGEST_LEN);
    kr->slots[at].not_after_ms = not_after;
    kr->slots[at].key = key;
}

cmx_gov_key *cmx_keyring_key(const cmx_keyring *kr, const char *id)
{
    for (size_t i = 0; kr && i < kr->n_keys; i++)
        if (strcmp(kr->keys[i]->p.id, id) == 0)
            return kr->keys[i];
    return NULL;
}

cmx_gov_team *cmx_keyring_team(const cmx_keyring *kr, const char *id)
{
    for (size_t i = 0; kr && i < kr->n_teams; i++)
        if (strcmp(kr->teams[i]->p.id, id) == 0)
            return kr->teams[i];
    return NULL;
}

cmx_keyring *cmx_keyring_ref(cmx_keyring *kr)
{
    if (kr)
        atomic_fetch_add_explicit(&kr->refs, 1, memory_order_relaxed);
    return kr;
}

void cmx_keyring_unref(cmx_keyring *kr)
{
    if (!kr || atomic_fetch_sub_explicit(&kr->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < kr->n_keys; i++)
        cmx_gov_key_unref(kr->keys[i]);
    for (size_t i = 0; i < kr->n_teams; i++)
        cmx_gov_team_unref(kr->teams[i]);
    free(kr->keys);
    free(kr->teams);
    free(kr->slots);
    free(kr);
}

static int add_teams(cmx_keyring *kr, const cmx_config *cfg, const cmx_store_snapshot *snap,
                     cmx_gov_usage_registry *reg)
{
    for (size_t i = 0; i < cfg->n_teams; i++) {
        cmx_team_rec rec;
        cmx_gov_team *t = cmx_team_rec_from_config(&cfg->teams[i], &rec) == 0
                              ? cmx_gov_team_from_record(&rec, reg)
                              : NULL;
        cmx_team_rec_free(&rec);
        if (!t)
            return -1;
        t->p.from_config = 1;
        kr->teams[kr->n_teams++] = t;
    }
    for (size_t i = 0; snap && i < snap->n_teams; i++) {
        if (cmx_keyring_team(kr, snap->teams[i].id)) {
            cmx_warn("teams: team '%s' is defined in the config and in the store; the config's "
                     "is used",
                     snap->teams[i].id);
            continue;
        }
        cmx_gov_team *t = cmx_gov_team_from_record(&snap->teams[i], reg);
        if (!t)
            return -1;
        kr->teams[kr->n_teams++] = t;
    }
    return 0;
}

static void link_team(cmx_keyring *kr, cmx_gov_key *k)
{
    if (!k->team_id)
        return;
    k->team = cmx_gov_team_ref(cmx_keyring_team(kr, k->team_id));
    if (!k->team)
        cmx_warn("keys: key '%s' belongs to team '%s', which does not exist; its requests are "
                 "refused until the team is created",
                 k->p.id, k->team_id);
}

static int add_keys(cmx_keyring *kr, const cmx_config *cfg, const cmx_store_snapshot *snap,
                    const cmx_key_hasher *hasher, cmx_gov_usage_registry *reg)
{
    uint8_t digest[CMX_DIGEST_LEN];
    for (size_t i = 0; i < cfg->n_keys; i++) {
        cmx_key_rec rec;
        cmx_gov_key *k = cmx_key_rec_from_config(&cfg->keys[i], &rec) == 0
                             ? cmx_gov_key_from_record(&rec, reg)
                             : NULL;
        cmx_key_rec_free(&rec);
        if (!k)
            return -1;
        k->p.from_config = 1;
        kr->keys[kr->n_keys++] = k;
        link_team(kr, k);
        const char *secret = cfg->keys[i].secret;
        if (secret) {
            cmx_key_digest(hasher, secret, strlen(secret), digest);
            add_slot(kr, digest, 0, k);
        }
    }
    size_t first_store_key = kr->n_keys;
    for (size_t i = 0; snap && i < snap->n_keys; i++) {
        if (cmx_keyring_key(kr, snap->keys[i].id)) {
            cmx_warn("keys: key '%s' is defined in the config and in the store; the config's is "
                     "used",
                     snap->keys[i].id);
            continue;
        }
        cmx_gov_key *k = cmx_gov_key_from_record(&snap->keys[i], reg);
        if (!k)
            return -1;
        kr->keys[kr->n_keys++] = k;
        link_team(kr, k);
    }
    for (size_t i = 0; snap && i < snap->n_secrets; i++) {
        const cmx_secret_rec *s = &snap->secrets[i];
        cmx_gov_key *k = NULL;
        for (size_t j = first_store_key; j < kr->n_keys && !k; j++)
            if (strcmp(kr->keys[j]->p.id, s->key_id) == 0)
                k = kr->keys[j];
        if (k && cmx_digest_from_hex(s->digest, digest) == 0)
            add_slot(kr, digest, s->not_after_ms, k);
    }
    return 0;
}

cmx_keyring *cmx_keyring_build(const cmx_config *cfg, const cmx_store_snapshot *snap,
                               const cmx_key_hasher *hasher, cmx_gov_usage_registry *registry,
                               cmx_error *err)
{
    size_t n_teams = cfg->n_teams + (snap ? snap->n_teams : 0);
    size_t n_keys = cfg->n_keys + (snap ? snap->n_keys : 0);
    size_t n_secrets = cfg->n_keys + (snap ? snap->n_secrets : 0);
    size_t cap = 16;
    while (cap < n_secrets * 2)
        cap *= 2;
    cmx_keyring *kr = calloc(1, sizeof *kr);
    if (kr) {
        atomic_init(&kr->refs, 1);
        kr->teams = calloc(n_teams ? n_teams : 1, sizeof *kr->teams);
        kr->keys = calloc(n_keys ? n_keys : 1, sizeof *kr->keys);
        kr->slots = calloc(cap, sizeof *kr->slots);
        kr->mask = cap - 1;
    }
    if (!kr || !kr->teams || !kr->keys || !kr->slots || add_teams(kr, cfg, snap, registry) != 0 ||
        add_keys(kr, cfg, snap, hasher, registry) != 0) {
        cmx_keyring_unref(kr);
        cmx_error_set(err, CMX_ERR_NOMEM, "out of memory while building the key table");
        return NULL;
    }
    return kr;
}
