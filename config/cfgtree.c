/*
 * cfgtree.c - see cfgtree.h. A stack of open containers turns the event
 * stream into nodes; on any error the partial tree is freed before returning.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cfgtree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

bool tr_cfgnode_is_null(const struct tr_cfgnode *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (!n || n->type != TR_CFGNODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (n->len == strlen(nulls[i]) && memcmp(n->value, nulls[i], n->len) == 0)
			return true;
	return false;
}

const char *tr_cfgnode_kind(const struct tr_cfgnode *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case TR_CFGNODE_MAP:
		return "a mapping";
	case TR_CFGNODE_SEQ:
		return "a list";
	case TR_CFGNODE_SCALAR:
		return tr_cfgnode_is_null(n) ? "an empty value" : "a scalar";
	}
	return "?";
}

void tr_cfgtree_free(struct tr_cfgnode *root)
{
	while (root) {
		struct tr_cfgnode *next = root->next;
		tr_cfgtree_free(root->first);
		free(root->value);
		free(root);
		root = next;
	}
}

/* Line and column (1-based) of byte offset off in buf, for reader errors that
   come without a mark. */
static void offset_pos(const unsigned char *buf, size_t len, size_t off, unsigned *line,
                       unsigned *col)
{
	unsigned l = 1, c = 1;

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			l++;
			c = 1;
		} else if ((buf[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static int parse_error(yaml_parser_t *p, const unsigned char *buf, size_t len, struct tr_cfgdiag *d)
{
	unsigned line, col;
	const char *problem = p->problem ? p->problem : "unknown problem";

	if (p->error == YAML_MEMORY_ERROR) {
		tr_cfgdiag_file(d, "out of memory while parsing");
		return -ENOMEM;
	}
	if (p->error == YAML_READER_ERROR) {
		offset_pos(buf, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			tr_cfgdiag_at(d, line, col, "malformed YAML: %s (byte 0x%02x)", problem,
			              (unsigned)p->problem_value & 0xffu);
		else
			tr_cfgdiag_at(d, line, col, "malformed YAML: %s", problem);
		return -EINVAL;
	}
	line = (unsigned)p->problem_mark.line + 1;
	col = (unsigned)p->problem_mark.column + 1;
	if (p->context)
		tr_cfgdiag_at(d, line, col, "malformed YAML: %s (%s at line %zu column %zu)",
		              problem, p->context, p->context_mark.line + 1,
		              p->context_mark.column + 1);
	else
		tr_cfgdiag_at(d, line, col, "malformed YAML: %s", problem);
	return -EINVAL;
}

/* Refuses anchors and tags on a node-starting event. Returns 0 or -EINVAL. */
static int check_props(const yaml_event_t *ev, const yaml_char_t *anchor, const yaml_char_t *tag,
                       struct tr_cfgdiag *d)
{
	char show[80];
	unsigned line = (unsigned)ev->start_mark.line + 1,
	         col = (unsigned)ev->start_mark.column + 1;

	if (anchor) {
		tr_cfgdiag_at(d, line, col,
		              "YAML anchors and aliases are not supported (anchor '&%s')",
		              tr_cfgdiag_show(show, sizeof(show), (const char *)anchor,
		                              strlen((const char *)anchor)));
		return -EINVAL;
	}
	if (tag) {
		tr_cfgdiag_at(d, line, col, "YAML tags are not supported (tag '%s')",
		              tr_cfgdiag_show(show, sizeof(show), (const char *)tag,
		                              strlen((const char *)tag)));
		return -EINVAL;
	}
	return 0;
}

static struct tr_cfgnode *node_new(enum tr_cfgnode_type type, const yaml_event_t *ev)
{
	struct tr_cfgnode *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->type = type;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	return n;
}

struct tree_build {
	struct tr_cfgnode *root;
	struct tr_cfgnode *stack[TR_CFGTREE_MAX_DEPTH];
	int depth;
	int docs;
	bool in_doc;
};

/* Links n under the innermost open container (or as the root). */
static void attach(struct tree_build *b, struct tr_cfgnode *n)
{
	if (b->depth == 0) {
		b->root = n;
		return;
	}
	struct tr_cfgnode *parent = b->stack[b->depth - 1];
	if (parent->last)
		parent->last->next = n;
	else
		parent->first = n;
	parent->last = n;
	parent->n++;
}

/* Handles one event. Returns 1 at the end of the stream, 0 to go on, or -errno. */
static int on_event(struct tree_build *b, const yaml_event_t *ev, struct tr_cfgdiag *d)
{
	struct tr_cfgnode *n;
	unsigned line = (unsigned)ev->start_mark.line + 1,
	         col = (unsigned)ev->start_mark.column + 1;
	int rc;

	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->docs > 1) {
			tr_cfgdiag_at(d, line, col,
			              "several YAML documents in one file are not supported");
			return -EINVAL;
		}
		b->in_doc = true;
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		b->in_doc = false;
		return 0;
	case YAML_ALIAS_EVENT: {
		char show[80];
		const char *a = (const char *)ev->data.alias.anchor;
		tr_cfgdiag_at(d, line, col,
		              "YAML anchors and aliases are not supported (alias '*%s')",
		              a ? tr_cfgdiag_show(show, sizeof(show), a, strlen(a)) : "");
		return -EINVAL;
	}
	case YAML_SCALAR_EVENT:
		rc = check_props(ev, ev->data.scalar.anchor, ev->data.scalar.tag, d);
		if (rc)
			return rc;
		n = node_new(TR_CFGNODE_SCALAR, ev);
		if (!n)
			goto nomem;
		n->value = malloc(ev->data.scalar.length + 1);
		if (!n->value) {
			free(n);
			goto nomem;
		}
		if (ev->data.scalar.length)
			memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
		n->value[ev->data.scalar.length] = '\0';
		n->len = ev->data.scalar.length;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		attach(b, n);
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ev->type == YAML_SEQUENCE_START_EVENT)
			rc = check_props(ev, ev->data.sequence_start.anchor,
			                 ev->data.sequence_start.tag, d);
		else
			rc = check_props(ev, ev->data.mapping_start.anchor,
			                 ev->data.mapping_start.tag, d);
		if (rc)
			return rc;
		if (b->depth >= TR_CFGTREE_MAX_DEPTH) {
			tr_cfgdiag_at(d, line, col, "nesting deeper than %d levels",
			              TR_CFGTREE_MAX_DEPTH);
			return -EINVAL;
		}
		n = node_new(
		    ev->type == YAML_SEQUENCE_START_EVENT ? TR_CFGNODE_SEQ : TR_CFGNODE_MAP, ev);
		if (!n)
			goto nomem;
		attach(b, n);
		b->stack[b->depth++] = n;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth > 0)
			b->depth--;
		return 0;
	}
	return 0;
nomem:
	tr_cfgdiag_file(d, "out of memory while parsing");
	return -ENOMEM;
}

int tr_cfgtree_parse(const void *buf, size_t len, struct tr_cfgdiag *d, struct tr_cfgnode **root)
{
	yaml_parser_t parser;
	struct tree_build b;
	int rc = 0;

	*root = NULL;
	memset(&b, 0, sizeof(b));
	if (!yaml_parser_initialize(&parser)) {
		tr_cfgdiag_file(d, "out of memory while parsing");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parse_error(&parser, buf, len, d);
			break;
		}
		rc = on_event(&b, &ev, d);
		yaml_event_delete(&ev);
		if (rc) {
			if (rc > 0)
				rc = 0;
			break;
		}
	}
	yaml_parser_delete(&parser);
	if (rc) {
		tr_cfgtree_free(b.root);
		return rc;
	}
	*root = b.root;
	return 0;
}
