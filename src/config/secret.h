/* secret.h — resolution of secret references in the configuration.
 *
 * A credential is written as a reference so the YAML file can be committed
 * and shared: `env:NAME` reads an environment variable, `file:PATH` reads a
 * file (relative paths are relative to the config file's directory; trailing
 * newlines are stripped, as files written by editors, `echo` and Kubernetes
 * secret mounts usually end with one).  Anything else is an inline secret:
 * accepted, but the loader warns about it.
 *
 * Messages produced here never contain the secret value, and never echo a
 * malformed reference either (someone may have pasted the key after `env:`). */
#ifndef CMX_CONFIG_SECRET_H
#define CMX_CONFIG_SECRET_H

#include <stddef.h>

typedef enum {
    CMX_SECRET_RESOLVED = 0, /* env: or file: read into *out */
    CMX_SECRET_INLINE,       /* not a reference: *out is a copy of the text */
    CMX_SECRET_FAILED,       /* *out NULL, why[] says what went wrong */
} cmx_secret_result;

/* Largest secret file accepted; a key is a few hundred bytes at most. */
#define CMX_SECRET_FILE_MAX (64 * 1024)

/* Resolves `ref`.  `base_dir` anchors relative file: paths.  *out is malloc'd
 * (caller frees) on RESOLVED and INLINE.  On FAILED, `why` holds a sentence
 * such as "environment variable OPENAI_API_KEY is not set"; out of memory is
 * reported the same way. */
cmx_secret_result cmx_secret_resolve(const char *ref, const char *base_dir, char **out, char *why,
                                     size_t why_len);

/* Joins a relative path onto base_dir (absolute paths are kept); malloc'd. */
char *cmx_path_resolve(const char *base_dir, const char *path);

#endif
