/* test_embeddings.c: the embeddings body as OpenAI validates it, the mock's vectors, the answer */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "embeddings.h"
#include "strbuf.h"

static int parse(const char *body, struct emb_request *r, oa_error *err)
{
	memset(err, 0, sizeof *err);
	return emb_request_parse(body, strlen(body), r, err);
}

static void test_refused_bodies(void **state)
{
	static const struct {
		const char *body;
		const char *param;  /* NULL: param null */
		const char *code;   /* NULL: code null */
		const char *msg;    /* a piece of the message */
	} cases[] = {
		{ "{\"model\":\"e\",\"input\":\"\"}", NULL, NULL, "'$.input' is invalid" },
		{ "{\"model\":\"e\",\"input\":[\"a\",\"\"]}", NULL, NULL, "'$.input' is invalid" },
		{ "{\"model\":\"e\",\"input\":[\"a\",1]}", NULL, NULL, "'$.input' is invalid" },
		{ "{\"model\":\"e\",\"input\":[[1],\"a\"]}", NULL, NULL, "'$.input' is invalid" },
		{ "{\"model\":\"e\",\"input\":[1,[2]]}", NULL, NULL, "'$.input' is invalid" },
		{ "{\"model\":\"e\",\"input\":[]}", "input", "empty_array", "empty array" },
		{ "{\"model\":\"e\",\"input\":[[]]}", "input[0]", "empty_array", "empty array" },
		{ "{\"model\":\"e\",\"input\":[[1,\"a\"]]}", "input[0][1]", "invalid_type", "expected an integer" },
		{ "{\"model\":\"e\",\"input\":[-1]}", "input[0]", "integer_below_min_value", "below minimum" },
		{ "{\"model\":\"e\",\"input\":[1.5]}", "input[0]", "invalid_type", "Invalid type" },
		{ "{\"model\":\"e\",\"input\":{\"text\":\"a\"}}", "input", "invalid_type", "Invalid type for 'input'" },
		{ "{\"model\":\"e\",\"input\":null}", "input", "invalid_type", "Invalid type for 'input'" },
		{ "{\"model\":\"e\"}", "input", "missing_required_parameter", "input" },
		{ "{\"input\":\"a\"}", "model", "missing_required_parameter", "model" },
		{ "{\"model\":7,\"input\":\"a\"}", "model", "invalid_type", "Invalid type for 'model'" },
		{ "{\"model\":\"e\",\"input\":\"a\",\"dimensions\":0}", "dimensions", "integer_below_min_value", "below" },
		{ "{\"model\":\"e\",\"input\":\"a\",\"dimensions\":\"8\"}", "dimensions", "invalid_type", "dimensions" },
		{ "{\"model\":\"e\",\"input\":\"a\",\"encoding_format\":\"hex\"}", "encoding_format", "invalid_value",
		  "'hex'" },
		{ "{\"model\":\"e\",\"input\":\"a\",\"user\":1}", "user", "invalid_type", "user" },
		{ "{\"model\":\"e\",\"input\":\"a\",\"temperature\":1}", "temperature", "unknown_parameter",
		  "temperature" },
		{ "[\"a\"]", NULL, "invalid_type", "expected an object" },
		{ "{\"model\":\"e\",\"input\":\"a\"", NULL, NULL, "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct emb_request r;
		oa_error err;
		if (parse(cases[i].body, &r, &err) == 0)
			fail_msg("case %zu accepted: %s", i, cases[i].body);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.type, "invalid_request_error");
		assert_string_equal(err.param, cases[i].param ? cases[i].param : "");
		if (cases[i].code || i < 5)
			assert_string_equal(err.code, cases[i].code ? cases[i].code : "");
		if (!strstr(err.message, cases[i].msg))
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].msg, err.message);
		assert_null(r.root);
	}
}

/* 2,048 inputs pass, 2,049 do not; an input of more than 8,192 tokens and
 * a request of more than 300,000 are refused as OpenAI refuses them. */
static void test_sizes(void **state)
{
	strbuf sb = STRBUF_INIT;
	struct emb_request r;
	oa_error err;
	for (int n = EMB_MAX_INPUTS; n <= EMB_MAX_INPUTS + 1; n++) {
		sb_reset(&sb);
		sb_puts(&sb, "{\"model\":\"e\",\"input\":[");
		for (int i = 0; i < n; i++)
			sb_puts(&sb, i ? ",\"x\"" : "\"x\"");
		sb_puts(&sb, "]}");
		int rc = parse(sb_str(&sb), &r, &err);
		if (n == EMB_MAX_INPUTS) {
			assert_int_equal(rc, 0);
			assert_int_equal(r.n_inputs, EMB_MAX_INPUTS);
			emb_request_free(&r);
		} else {
			assert_int_equal(rc, -1);
			assert_string_equal(err.code, "array_above_max_length");
		}
	}
	/* one input of 8,193 tokens ("1 " costs one token each) */
	sb_reset(&sb);
	sb_puts(&sb, "{\"model\":\"e\",\"input\":\"");
	for (int i = 0; i < EMB_MAX_INPUT_TOKENS + 1; i++)
		sb_puts(&sb, "1 ");
	sb_puts(&sb, "\"}");
	assert_int_equal(parse(sb_str(&sb), &r, &err), -1);
	assert_non_null(strstr(err.message, "maximum context length is 8192 tokens, however you requested 8194"));
	/* token ids: 8,193 of them in one input */
	sb_reset(&sb);
	sb_puts(&sb, "{\"model\":\"e\",\"input\":[[");
	for (int i = 0; i < EMB_MAX_INPUT_TOKENS + 1; i++)
		sb_puts(&sb, i ? ",5" : "5");
	sb_puts(&sb, "]]}");
	assert_int_equal(parse(sb_str(&sb), &r, &err), -1);
	assert_non_null(strstr(err.message, "you requested 8193 tokens"));
	/* 40 inputs of 8,000 token ids each: 320,000 in all */
	sb_reset(&sb);
	sb_puts(&sb, "{\"model\":\"e\",\"input\":[");
	for (int i = 0; i < 40; i++) {
		sb_puts(&sb, i ? ",[" : "[");
		for (int j = 0; j < 8000; j++)
			sb_puts(&sb, j ? ",7" : "7");
		sb_putc(&sb, ']');
	}
	sb_puts(&sb, "]}");
	assert_int_equal(parse(sb_str(&sb), &r, &err), -1);
	assert_string_equal(err.code, "max_tokens_per_request");
	assert_non_null(strstr(err.message, "Requested 320000 tokens, max 300000 tokens per request"));
	sb_free(&sb);
}

static void test_accepted_shapes(void **state)
{
	struct emb_request r;
	oa_error err;
	assert_int_equal(parse("{\"model\":\"e\",\"input\":\"hello world\"}", &r, &err), 0);
	assert_int_equal(r.n_inputs, 1);
	assert_string_equal(r.inputs[0].text, "hello world");
	assert_int_equal(r.encoding, EMB_FLOAT);
	assert_int_equal(r.dimensions, 0);
	assert_int_equal(emb_request_tokens(&r), 4);  /* "hello" 2, " world" 2 (tokens.h) */
	emb_request_free(&r);

	assert_int_equal(parse("{\"model\":\"e\",\"input\":[\"a\",\"b c\"],\"encoding_format\":\"base64\","
			       "\"dimensions\":3,\"user\":\"u1\"}", &r, &err), 0);
	assert_int_equal(r.n_inputs, 2);
	assert_int_equal(r.encoding, EMB_BASE64);
	assert_int_equal(r.dimensions, 3);
	assert_string_equal(r.user, "u1");
	assert_string_equal(r.model, "e");
	emb_request_free(&r);

	/* a list of ids is one input; a list of lists is one input each */
	assert_int_equal(parse("{\"model\":\"e\",\"input\":[1212,318,257]}", &r, &err), 0);
	assert_int_equal(r.n_inputs, 1);
	assert_null(r.inputs[0].text);
	assert_int_equal(emb_request_tokens(&r), 3);
	emb_request_free(&r);
	assert_int_equal(parse("{\"model\":\"e\",\"input\":[[1,2],[3]],\"encoding_format\":\"float\"}", &r, &err), 0);
	assert_int_equal(r.n_inputs, 2);
	assert_int_equal(emb_request_tokens(&r), 3);
	emb_request_free(&r);
}

static struct emb_input text_input(const char *s)
{
	return (struct emb_input){ .text = s, .len = strlen(s) };
}

static double norm(const float *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

static void test_vectors(void **state)
{
	enum { D = 1536 };
	static float a[D], a2[D], b[D], shortv[D];
	struct emb_input hello = text_input("hello"), hello_again = text_input("hello"), other = text_input("hellp");
	emb_mock_vector(&hello, D, a);
	emb_mock_vector(&hello_again, D, a2);
	emb_mock_vector(&other, D, b);
	assert_true(fabs(norm(a, D) - 1) < 1e-5);
	assert_true(fabs(norm(b, D) - 1) < 1e-5);
	assert_memory_equal(a, a2, sizeof a);
	double dot = 0;
	for (size_t i = 0; i < D; i++)
		dot += (double)a[i] * b[i];
	assert_true(fabs(dot) < 0.2);  /* unrelated texts: nearly orthogonal */
	/* shortened: the long vector's start, scaled back to length 1 */
	emb_mock_vector(&hello, 8, shortv);
	assert_true(fabs(norm(shortv, 8) - 1) < 1e-5);
	double scale = norm(a, 8);
	for (size_t i = 0; i < 8; i++)
		assert_true(fabs(shortv[i] - a[i] / scale) < 1e-5);
	/* token ids and a text of the same bytes differ */
	json_object *ids = json_tokener_parse("[104,101]");
	struct emb_input tok = { .tokens = ids };
	struct emb_input he = text_input("he");
	emb_mock_vector(&tok, 8, a);
	emb_mock_vector(&he, 8, b);
	assert_memory_not_equal(a, b, 8 * sizeof *a);
	json_object_put(ids);
}

/* A writer into a strbuf that can also play a client gone after k writes. */
struct mem_out {
	strbuf sb;
	int writes_left;
};

static int mem_write(void *ctx, const char *p, size_t n)
{
	struct mem_out *m = ctx;
	if (m->writes_left-- == 0)
		return -1;
	sb_append(&m->sb, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	return 0;
}

static void test_answer(void **state)
{
	struct emb_request r;
	oa_error err;
	struct mem_out m = { STRBUF_INIT, -1 };
	body_writer w = { &m, mem_write, mem_flush };
	strbuf scratch = STRBUF_INIT;
	assert_int_equal(parse("{\"model\":\"e\",\"input\":[\"one two\",\"three\"],\"dimensions\":4}", &r, &err), 0);
	assert_int_equal(emb_write_mock_answer(&r, "e", 4, &w, &scratch), 0);
	json_object *ans = json_tokener_parse(sb_str(&m.sb));
	assert_non_null(ans);
	json_object *data, *usage, *v, *e0;
	assert_true(json_object_object_get_ex(ans, "data", &data));
	assert_int_equal(json_object_array_length(data), 2);
	e0 = json_object_array_get_idx(data, 1);
	assert_true(json_object_object_get_ex(e0, "embedding", &v));
	assert_int_equal(json_object_array_length(v), 4);
	assert_true(json_object_object_get_ex(e0, "index", &v));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(ans, "usage", &usage));
	assert_true(json_object_object_get_ex(usage, "prompt_tokens", &v));
	assert_int_equal(json_object_get_int(v), 4);  /* one 1, two 1, three 2 */
	assert_true(json_object_object_get_ex(usage, "total_tokens", &v));
	assert_int_equal(json_object_get_int(v), 4);
	assert_true(json_object_object_get_ex(ans, "object", &v));
	assert_string_equal(json_object_get_string(v), "list");
	/* the floats read back are the vector */
	float want[4];
	emb_mock_vector(&r.inputs[1], 4, want);
	json_object_object_get_ex(e0, "embedding", &v);
	for (size_t i = 0; i < 4; i++)
		assert_true((float)json_object_get_double(json_object_array_get_idx(v, i)) == want[i]);
	json_object_put(ans);
	emb_request_free(&r);

	/* base64: little-endian float32 bytes of the same vector */
	sb_reset(&m.sb);
	assert_int_equal(parse("{\"model\":\"e\",\"input\":\"three\",\"encoding_format\":\"base64\"}", &r, &err), 0);
	assert_int_equal(emb_write_mock_answer(&r, "e", 4, &w, &scratch), 0);
	ans = json_tokener_parse(sb_str(&m.sb));
	json_object_object_get_ex(ans, "data", &data);
	json_object_object_get_ex(json_object_array_get_idx(data, 0), "embedding", &v);
	const char *b64 = json_object_get_string(v);
	unsigned char bytes[16];
	size_t n = 0;
	assert_int_equal(sodium_base642bin(bytes, sizeof bytes, b64, strlen(b64), NULL, &n, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal(n, 16);
	for (size_t i = 0; i < 4; i++) {
		uint32_t u = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 |
			     (uint32_t)bytes[4 * i + 2] << 16 | (uint32_t)bytes[4 * i + 3] << 24;
		float f;
		memcpy(&f, &u, 4);
		assert_true(f == want[i]);
	}
	json_object_put(ans);

	/* a client gone on the first write: -1, nothing more written */
	sb_reset(&m.sb);
	m.writes_left = 0;
	assert_int_equal(emb_write_mock_answer(&r, "e", 4, &w, &scratch), -1);
	assert_int_equal(m.sb.len, 0);
	emb_request_free(&r);
	sb_free(&m.sb);
	sb_free(&scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_bodies),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_accepted_shapes),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
