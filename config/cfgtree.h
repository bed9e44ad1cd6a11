/*
 * cfgtree.h - turns the bytes of a YAML configuration file into a small tree.
 *
 * Built from libyaml's event API. Only the YAML a configuration needs is
 * accepted: one document of mappings, sequences and scalars. Anchors, aliases,
 * explicit tags and several documents are refused with a clear message, so the
 * tree is always a finite tree (no shared or cyclic nodes). Nesting deeper than
 * TR_CFGTREE_MAX_DEPTH is refused so walking it can recurse safely.
 */
#ifndef TR_CFGTREE_H
#define TR_CFGTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "cfgdiag.h"

#define TR_CFGTREE_MAX_DEPTH 64

enum tr_cfgnode_type { TR_CFGNODE_SCALAR, TR_CFGNODE_SEQ, TR_CFGNODE_MAP };

struct tr_cfgnode {
	enum tr_cfgnode_type type;
	unsigned line, col; /* 1-based position where the node starts */
	char *value;        /* scalars: the text, NUL-terminated (may hold NULs: see len) */
	size_t len;         /* scalars: bytes in value */
	bool plain;         /* scalars: written without quotes or block style */
	size_t n;           /* sequences/mappings: children (a mapping: key, value, key, ...) */
	struct tr_cfgnode *first, *last; /* children in file order */
	struct tr_cfgnode *next;         /* next sibling */
};

/* Parses buf[0..len). Returns 0 with *root set (NULL for a stream without a
   document: empty or only comments), or -EINVAL (malformed or refused YAML) /
   -ENOMEM with exactly one message added to d. */
int tr_cfgtree_parse(const void *buf, size_t len, struct tr_cfgdiag *d, struct tr_cfgnode **root);

/* Frees a tree from tr_cfgtree_parse(); NULL is fine. */
void tr_cfgtree_free(struct tr_cfgnode *root);

/* True for a plain scalar meaning "no value": empty, "~", "null", "Null", "NULL". */
bool tr_cfgnode_is_null(const struct tr_cfgnode *n);

/* "a mapping", "a list", "a scalar" ... for messages. */
const char *tr_cfgnode_kind(const struct tr_cfgnode *n);

#endif
