/* aws_credentials_internal.h — the pieces aws_credentials.c shares with
 * aws_credentials_sources.c (file and answer parsing).  Not for other
 * modules. */
#ifndef CMX_PROVIDERS_AWS_CREDENTIALS_INTERNAL_H
#define CMX_PROVIDERS_AWS_CREDENTIALS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* One set of keys; the strings are owned and wiped when freed. */
typedef struct cmx_awsc_keys {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    int64_t expiration; /* Unix seconds; -1: does not expire */
} cmx_awsc_keys;

/* A profile of the shared files. */
typedef struct cmx_awsc_profile {
    char name[128];
    cmx_awsc_keys keys;
    char *role_arn;
    char *web_identity_token_file;
    char *role_session_name;
} cmx_awsc_profile;

void cmx_awsc_wipe_free(char *s);
/* The file's bytes (at most max), trailing white space cut; NULL if it
 * cannot be read or is larger. */
char *cmx_awsc_read_small_file(const char *path, size_t max);
/* "2026-11-25T17:00:00Z" (fraction and zone suffix ignored: AWS writes UTC)
 * to Unix seconds; -1 if unreadable. */
int64_t cmx_awsc_parse_time(const char *s);
/* {AccessKeyId, SecretAccessKey, Token, Expiration}; 0 or -1. */
int cmx_awsc_take_json(const char *body, size_t len, cmx_awsc_keys *out);
/* AssumeRoleWithWebIdentityResponse's <Credentials>; 0 or -1. */
int cmx_awsc_take_sts_xml(const char *body, cmx_awsc_keys *out);
/* The <Error><Code> of an STS error answer, sanitised; "" if none. */
void cmx_awsc_sts_error_code(const char *body, char *code, size_t cap);
/* Reads `profile` (NULL: AWS_PROFILE or "default") from the config file
 * then the credentials file; 1 if either has the section. */
int cmx_awsc_profile_load(const char *profile, cmx_awsc_profile *out);
void cmx_awsc_profile_free(cmx_awsc_profile *p);

#endif
