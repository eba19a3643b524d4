/* embeddings.c: POST /v1/embeddings: the body as OpenAI validates it, the mock's vectors, the answer */
#include "embeddings.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "json_check.h"
#include "json_guard.h"
#include "tokens.h"
#include "xalloc.h"

/* CreateEmbeddingRequest (../shared/openai/embeddings-request-schema.json).
 * input's four shapes are one node here; what the node cannot say (no
 * empty string, no mix of shapes) is checked after it. */
static const struct vnode n_token_id = { .types = T_INT, .flags = F_MIN | F_MAX, .min = 0, .max = 4294967295.0 };

static const struct vnode n_input = { .types = T_STR | T_ARR, .min_items = 1, .max_items = EMB_MAX_INPUTS,
	.items = NODE(.types = T_STR | T_INT | T_ARR, .flags = F_MIN | F_MAX, .min = 0, .max = 4294967295.0,
		      .min_items = 1, .items = &n_token_id) };

static const struct vnode n_request = { .types = T_OBJ, .props = PROPS(
	{ "model", &jc_n_str, REQ },
	{ "input", &n_input, REQ },
	{ "encoding_format", STR_ENUM("float", "base64"), OPT },
	{ "dimensions", NODE(.types = T_INT, .flags = F_MIN, .min = 1), OPT },
	{ "user", &jc_n_str, OPT }) };

/* What OpenAI answers for an input its schema lets through but the API
 * does not take (an empty string, a mix of shapes): param and code null. */
static int input_invalid(oa_error *err)
{
	return oa_invalid(err, NULL, NULL,
			  "'$.input' is invalid. Please check the API reference: "
			  "https://platform.openai.com/docs/api-reference.");
}

long emb_input_tokens(const struct emb_input *in)
{
	return in->text ? tok_count(in->text, in->len) : (long)json_object_array_length(in->tokens);
}

long emb_request_tokens(const struct emb_request *req)
{
	long n = 0;
	for (size_t i = 0; i < req->n_inputs; i++)
		n += emb_input_tokens(&req->inputs[i]);
	return n;
}

/* The inputs of a valid `input`, borrowed from it; -1 (400) for what the
 * API refuses beyond the schema. */
static int fill_inputs(struct emb_request *r, json_object *input, oa_error *err)
{
	if (json_object_is_type(input, json_type_string)) {
		r->inputs = xcalloc(1, sizeof *r->inputs);
		r->inputs[0].text = json_object_get_string(input);
		r->inputs[0].len = (size_t)json_object_get_string_len(input);
		r->n_inputs = 1;
		return r->inputs[0].len ? 0 : input_invalid(err);
	}
	size_t n = json_object_array_length(input);
	json_type first = json_object_get_type(json_object_array_get_idx(input, 0));
	for (size_t i = 1; i < n; i++)
		if (json_object_get_type(json_object_array_get_idx(input, i)) != first)
			return input_invalid(err);
	if (first == json_type_int) {  /* one input: a list of token ids */
		r->inputs = xcalloc(1, sizeof *r->inputs);
		r->inputs[0].tokens = input;
		r->n_inputs = 1;
		return 0;
	}
	r->inputs = xcalloc(n, sizeof *r->inputs);
	r->n_inputs = n;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(input, i);
		struct emb_input *in = &r->inputs[i];
		if (first == json_type_array) {
			in->tokens = e;
			continue;
		}
		in->text = json_object_get_string(e);
		in->len = (size_t)json_object_get_string_len(e);
		if (!in->len)
			return input_invalid(err);
	}
	return 0;
}

static int check_sizes(const struct emb_request *r, oa_error *err)
{
	long total = 0;
	for (size_t i = 0; i < r->n_inputs; i++) {
		long n = emb_input_tokens(&r->inputs[i]);
		if (n > EMB_MAX_INPUT_TOKENS)
			return oa_invalid(err, NULL, NULL,
					  "This model's maximum context length is %d tokens, however you requested "
					  "%ld tokens (%ld in your prompt; 0 for the completion). Please reduce your "
					  "prompt; or completion length.", EMB_MAX_INPUT_TOKENS, n, n);
		total += n;
	}
	if (total > EMB_MAX_TOTAL_TOKENS)
		return oa_invalid(err, "max_tokens_per_request", NULL,
				  "Requested %ld tokens, max %d tokens per request", total, EMB_MAX_TOTAL_TOKENS);
	return 0;
}

int emb_request_parse(const char *body, size_t len, struct emb_request *req, oa_error *err)
{
	json_object *root;
	memset(req, 0, sizeof *req);
	if (json_guard_parse(body, len, &root, err))
		return -1;
	if (!json_object_is_type(root, json_type_object)) {
		oa_invalid(err, "invalid_type", NULL, "Invalid type for body: expected an object, but got %s instead.",
			   jc_type_article(jc_type_bit(root)));
		json_object_put(root);
		return -1;
	}
	struct vctx c = { .err = err };
	req->root = root;
	if (jc_check(&c, root, &n_request) || fill_inputs(req, jc_field(root, "input"), err) ||
	    check_sizes(req, err)) {
		emb_request_free(req);
		return -1;
	}
	req->model = jc_str(root, "model");
	const char *enc = jc_str(root, "encoding_format");
	req->encoding = enc && strcmp(enc, "base64") == 0 ? EMB_BASE64 : EMB_FLOAT;
	json_object *dims = jc_field(root, "dimensions");
	req->dimensions = dims ? (long)json_object_get_int64(dims) : 0;
	req->user = jc_str(root, "user");
	return 0;
}

void emb_request_free(struct emb_request *req)
{
	json_object_put(req->root);
	free(req->inputs);
	memset(req, 0, sizeof *req);
}

/* ---- the mock's vectors ---- */

/* A fixed key: the same input gives the same vector on every host. */
static const unsigned char vector_key[crypto_shorthash_KEYBYTES] = "openai-fcgi-emb";

static uint64_t input_seed(const struct emb_input *in)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t seed;
	if (in->text) {
		crypto_shorthash(h, (const unsigned char *)in->text, in->len, vector_key);
	} else {
		/* token ids as little-endian 32-bit words, tagged so that they
		 * never collide with a text of the same bytes */
		size_t n = json_object_array_length(in->tokens);
		unsigned char *b = xmalloc(4 * n + 1);
		for (size_t i = 0; i < n; i++) {
			uint32_t t = (uint32_t)json_object_get_int64(json_object_array_get_idx(in->tokens, i));
			for (int k = 0; k < 4; k++)
				b[4 * i + (size_t)k] = (unsigned char)(t >> (8 * k));
		}
		b[4 * n] = 0xff;
		crypto_shorthash(h, b, 4 * n + 1, vector_key);
		free(b);
	}
	memcpy(&seed, h, sizeof seed);
	return seed;
}

/* splitmix64: component i from the seed alone, so that it does not depend
 * on how many components are asked for. */
static double component(uint64_t seed, size_t i)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) / 4503599627370496.0 - 1.0;  /* [-1, 1) */
}

void emb_mock_vector(const struct emb_input *in, size_t dims, float *out)
{
	uint64_t seed = input_seed(in);
	double sum = 0;
	for (size_t i = 0; i < dims; i++) {
		double v = component(seed, i);
		out[i] = (float)v;
		sum += v * v;
	}
	double norm = sum > 0 ? sqrt(sum) : 1;
	for (size_t i = 0; i < dims; i++)
		out[i] = (float)(out[i] / norm);
}

/* ---- the answer ---- */

static void put_vector(strbuf *sb, const float *v, size_t dims, enum emb_encoding enc)
{
	if (enc == EMB_BASE64) {
		unsigned char *bytes = xmalloc(4 * dims);
		for (size_t i = 0; i < dims; i++) {
			uint32_t u;
			memcpy(&u, &v[i], 4);
			for (int k = 0; k < 4; k++)
				bytes[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
		}
		size_t n = sodium_base64_encoded_len(4 * dims, sodium_base64_VARIANT_ORIGINAL);
		sb_putc(sb, '"');
		sb_grow(sb, n);
		sodium_bin2base64(sb->buf + sb->len, n, bytes, 4 * dims, sodium_base64_VARIANT_ORIGINAL);
		sb->len += n - 1;  /* n counts the NUL */
		sb_putc(sb, '"');
		free(bytes);
		return;
	}
	sb_putc(sb, '[');
	for (size_t i = 0; i < dims; i++) {
		if (i)
			sb_putc(sb, ',');
		sb_printf(sb, "%.9g", (double)v[i]);  /* 9 digits: a float32 read back exactly */
	}
	sb_putc(sb, ']');
}

static int drain(const body_writer *w, strbuf *sb)
{
	int rc = w->write(w->ctx, sb->buf, sb->len);
	sb_reset(sb);
	return rc;
}

int emb_write_mock_answer(const struct emb_request *req, const char *model, size_t dims,
			  const body_writer *w, strbuf *scratch)
{
	float *v = xcalloc(dims ? dims : 1, sizeof *v);
	int rc = 0;
	sb_reset(scratch);
	sb_puts(scratch, "{\"object\":\"list\",\"data\":[");
	for (size_t i = 0; i < req->n_inputs && rc == 0; i++) {
		emb_mock_vector(&req->inputs[i], dims, v);
		sb_puts(scratch, i ? ",{\"object\":\"embedding\",\"index\":" : "{\"object\":\"embedding\",\"index\":");
		sb_put_int(scratch, (long long)i);
		sb_puts(scratch, ",\"embedding\":");
		put_vector(scratch, v, dims, req->encoding);
		sb_putc(scratch, '}');
		if (scratch->len >= 64 * 1024)
			rc = drain(w, scratch);
	}
	free(v);
	if (rc != 0)
		return -1;
	long tokens = emb_request_tokens(req);
	sb_puts(scratch, "],\"model\":");
	sb_json_str(scratch, model, strlen(model));
	sb_puts(scratch, ",\"usage\":{\"prompt_tokens\":");
	sb_put_int(scratch, tokens);
	sb_puts(scratch, ",\"total_tokens\":");
	sb_put_int(scratch, tokens);
	sb_puts(scratch, "}}");
	return drain(w, scratch);
}
