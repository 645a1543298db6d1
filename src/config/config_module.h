/* config_module.h — what a module that owns configuration keys declares,
 * and the readers it may use.
 *
 * config/ knows no provider by name.  Each provider module declares its
 * keys in a table (nginx's ngx_command_t idea): a key's name, its type,
 * where its value goes, its default and one line of documentation.  The
 * loader walks the table for every provider of that type: unknown keys get
 * "did you mean", every value is checked against its type with a located
 * message ("FILE:LINE:COL: providers.x.region: expected ..."), secrets are
 * resolved from env:/file: references, defaults are applied, and the value
 * is stored in the module's own settings struct (or, for the few settings
 * every provider shares, in cmx_provider_config).  What a table cannot say
 * — keys that exclude each other, settings derived from others, a nested
 * section with keys of its own — the module checks in its `finish` hook
 * with the readers below.
 *
 * The provider registry (providers/provider.c) is the one list of modules:
 * config/ reaches their schemas through cmx_provider_schema_at(), defined
 * there, and never includes a provider header. */
#ifndef CMX_CONFIG_CONFIG_MODULE_H
#define CMX_CONFIG_CONFIG_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/yaml_tree.h"

typedef struct cmx_cfg_ctx cmx_cfg_ctx;

typedef enum cmx_key_type {
    CMX_KEY_STRING,   /* char *; `check` may judge the text */
    CMX_KEY_SECRET,   /* char *: env:NAME / file:PATH / inline; wiped when freed */
    CMX_KEY_BOOL,     /* int */
    CMX_KEY_UINT,     /* uint32_t from min to max */
    CMX_KEY_UINT64,   /* uint64_t from min to max */
    CMX_KEY_DOUBLE,   /* double from min to max */
    CMX_KEY_DURATION, /* uint32_t milliseconds; min 1 refuses zero */
    CMX_KEY_URL,      /* char *: http:// or https:// with a host, trailing '/' removed */
    CMX_KEY_FILE,     /* char *: a readable file, relative to the config's folder */
    CMX_KEY_ENUM,     /* int: the position of the value in `choices` */
    CMX_KEY_SECTION,  /* a value the module reads itself, in `load` */
    /* The settings every provider may have, stored in cmx_provider_config: */
    CMX_KEY_TIMEOUTS,     /* timeouts: {connect, first_byte, idle, total} */
    CMX_KEY_HEALTH_CHECK, /* health_check: {interval, timeout, path, ...} */
    CMX_KEY_RESIDENCY,    /* residency: a region tag */
} cmx_key_type;

/* flags */
#define CMX_KEY_REQUIRED 1u    /* missing is an error at the provider's name */
#define CMX_KEY_SHARED 2u      /* `offset` is into cmx_provider_config, not the settings */
#define CMX_KEY_NO_USERINFO 4u /* URL: refuse user:password@ */
#define CMX_KEY_WARN_FALSE 8u  /* BOOL: false is worth a warning (`expected` says why) */

typedef struct cmx_config_key cmx_config_key;

struct cmx_config_key {
    const char *name;
    cmx_key_type type;
    size_t offset; /* of the field the value goes to */
    unsigned flags;
    const char *def;            /* the default, written as in YAML; NULL: none (0 / NULL) */
    const char *doc;            /* one line for the documentation */
    double min, max;            /* UINT, UINT64, DOUBLE; DURATION: min 1 refuses zero */
    const char *const *choices; /* ENUM, NULL-terminated */
    /* STRING: what a good value looks like ("an AWS region such as
     * us-east-1"), for the message when `check` refuses one; WARN_FALSE:
     * the warning. */
    const char *expected;
    /* REQUIRED: what to write, for the message when it is missing ("the
     * AWS region, such as us-east-1"). */
    const char *hint;
    int (*check)(const char *value); /* STRING: 1 when the text is acceptable */
    /* SECTION: reads the value (never NULL); `path` is the key's full name. */
    void (*load)(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *value,
                 const char *path);
};

#define CMX_SETTING(type, field) offsetof(type, field)
#define CMX_SHARED(field) offsetof(cmx_provider_config, field)

/* The shared keys, written once: a module lists the ones it takes. */
#define CMX_KEY_TIMEOUTS_ENTRY                                                                     \
    {                                                                                              \
        "timeouts", CMX_KEY_TIMEOUTS, 0, CMX_KEY_SHARED,                                           \
            .doc = "connect, first_byte, idle and total deadlines of a call to the provider"       \
    }
#define CMX_KEY_HEALTH_CHECK_ENTRY                                                                 \
    {                                                                                              \
        "health_check", CMX_KEY_HEALTH_CHECK, 0, CMX_KEY_SHARED,                                   \
            .doc =                                                                                 \
                "a cheap request every interval that takes the provider out of routing while it "  \
                "fails"                                                                            \
    }
#define CMX_KEY_RESIDENCY_ENTRY                                                                    \
    {                                                                                              \
        "residency", CMX_KEY_RESIDENCY, 0, CMX_KEY_SHARED,                                         \
            .doc = "the region tag its data stays in, matched by groups, keys and clients"         \
    }
#define CMX_KEY_TLS_VERIFY_ENTRY                                                                   \
    {                                                                                              \
        "tls_verify", CMX_KEY_BOOL, CMX_SHARED(tls_verify), CMX_KEY_SHARED | CMX_KEY_WARN_FALSE,   \
            .doc = "check the provider's certificate (default true)",                              \
            .expected = "the provider's certificate will not be checked"                           \
    }
#define CMX_KEY_CA_FILE_ENTRY                                                                      \
    {                                                                                              \
        "ca_file", CMX_KEY_FILE, CMX_SHARED(ca_file), CMX_KEY_SHARED,                              \
            .doc = "PEM file of the CAs to trust instead of the system store"                      \
    }
/* The positions are the values of cmx_http2_mode (http/upstream.h). */
extern const char *const cmx_http2_choices[];
#define CMX_KEY_HTTP2_ENTRY                                                                        \
    {                                                                                              \
        "http2", CMX_KEY_ENUM, CMX_SHARED(http2), CMX_KEY_SHARED, "auto",                          \
            .doc = "HTTP/2 to the provider: auto (by ALPN over TLS), on (always; h2c without "     \
                   "TLS) or off",                                                                  \
            .choices = cmx_http2_choices                                                           \
    }
/* The keys of every provider reached over the network: tls_verify, ca_file,
 * residency, http2. */
#define CMX_KEY_CONNECTION_ENTRIES                                                                 \
    CMX_KEY_TLS_VERIFY_ENTRY, CMX_KEY_CA_FILE_ENTRY, CMX_KEY_RESIDENCY_ENTRY, CMX_KEY_HTTP2_ENTRY

/* What a provider module tells config/ about its settings. */
typedef struct cmx_provider_schema {
    const char *type;           /* as written after `type:` */
    const cmx_config_key *keys; /* ends with {NULL} */
    size_t settings_size;       /* of the module's settings struct, 0 for none */
    int model_optional;         /* a target may leave out `model` (the group's name is used) */
    int unpriced;               /* simulated: no price list entries, costs nothing */
    /* After every key was read: cross-key checks and derived settings.  May
     * be NULL.  `name` is the provider's name node, `v` its mapping. */
    void (*finish)(cmx_cfg_ctx *ctx, cmx_provider_config *p, const cmx_ynode *name,
                   const cmx_ynode *v, const char *path);
    /* Frees what `finish` or a SECTION allocated beyond the table's own
     * fields (which are freed, secrets wiped, by config/).  May be NULL. */
    void (*release)(cmx_provider_config *p);
} cmx_provider_schema;

/* The registered providers' schemas in registry order, NULL past the last
 * (defined by the registry, providers/provider.c). */
const cmx_provider_schema *cmx_provider_schema_at(size_t i);

/* ---- readers and messages, for finish hooks and SECTION loaders -------- */

/* Messages at a node's position. */
void cmx_cfg_error(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cmx_cfg_warning(cmx_cfg_ctx *ctx, const cmx_ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* strdup that records running out of memory in the context. */
char *cmx_cfg_strdup(cmx_cfg_ctx *ctx, const char *s);

/* The scalar as it should appear in a message: quoted, shortened, control
 * characters replaced.  Never call it on a secret. */
const char *cmx_cfg_show(const cmx_ynode *n, char *buf, size_t len);

/* Checks that `node` is a mapping (a null value counts as an empty one) and
 * that all its keys are plain, unique and in `allowed` (NULL-terminated);
 * reports every offender.  Returns 1 if the node is usable as a mapping. */
int cmx_cfg_check_map(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path,
                      const char *const *allowed);
/* Keys that belong together (NULL-terminated `keys`): each one `map` lacks
 * is reported at `at` as "PATH: MISSING 'KEY' (WHY)", where MISSING is
 * e.g. "missing required key".  The number reported. */
int cmx_cfg_require_together(cmx_cfg_ctx *ctx, const cmx_ynode *map, const cmx_ynode *at,
                             const char *path, const char *const *keys, const char *missing,
                             const char *why);

/* What a typed reader found. */
typedef enum cmx_cfg_read {
    CMX_CFG_INVALID = -1, /* present but wrong: reported, *out unchanged */
    CMX_CFG_ABSENT = 0,   /* not there: *out unchanged (the default stays) */
    CMX_CFG_SET = 1,      /* read into *out */
} cmx_cfg_read;

/* Typed readers: look `key` up in `map` (under `path` for messages). */
cmx_cfg_read cmx_cfg_uint(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                          uint64_t min, uint64_t max, uint64_t *out);
cmx_cfg_read cmx_cfg_size(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                          uint64_t min, size_t *out);
cmx_cfg_read cmx_cfg_duration(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                              const char *key, int allow_zero, uint32_t *out);
cmx_cfg_read cmx_cfg_bool(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                          int *out);
cmx_cfg_read cmx_cfg_double(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                            const char *key, double min, double max, double *out);
/* Any scalar (not null) as a string; replaces *out (freeing the old one). */
cmx_cfg_read cmx_cfg_string(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path,
                            const char *key, char **out);
/* A secret reference at `node`, resolved; `path` is the full dotted name. */
cmx_cfg_read cmx_cfg_secret(cmx_cfg_ctx *ctx, const cmx_ynode *node, const char *path, char **out);
/* An http(s) URL with a host at `key`, trailing slashes removed; with
 * no_userinfo, a URL with user:password@ is refused too.  Replaces *out. */
cmx_cfg_read cmx_cfg_url(cmx_cfg_ctx *ctx, const cmx_ynode *map, const char *path, const char *key,
                         int no_userinfo, char **out);

#endif
