/* ceiling.c: the least a libfcgi + json-c responder can do per chat request, the bench's ceiling */
/*
 * Reads the body, parses it with json-c, and answers the same
 * chat.completion JSON as openai-fcgi's mock (same fields, same size), built
 * with json-c. No auth, no limiter, no validation, no log: whatever
 * openai-fcgi costs beyond this is the price of its features.
 *
 *   ceiling [THREADS]     (the socket on fd 0, as spawn-fcgi hands it over)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#define CANNED "THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT. " \
	"If you see this message, your chat endpoint is working correctly!"

static json_object *obj(const char *k1, json_object *v1)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, k1, v1);
	return o;
}

/* The chat.completion for model, as the mock writes it. */
static json_object *answer(const char *model, unsigned long seq)
{
	char id[64];
	snprintf(id, sizeof id, "chatcmpl-%029lu", seq);
	json_object *msg = json_object_new_object();
	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", json_object_new_string(CANNED));
	json_object_object_add(msg, "refusal", NULL);
	json_object_object_add(msg, "annotations", json_object_new_array());
	json_object *choice = obj("index", json_object_new_int(0));
	json_object_object_add(choice, "message", msg);
	json_object_object_add(choice, "logprobs", NULL);
	json_object_object_add(choice, "finish_reason", json_object_new_string("stop"));
	json_object *choices = json_object_new_array();
	json_object_array_add(choices, choice);

	json_object *pd = obj("cached_tokens", json_object_new_int(0));
	json_object_object_add(pd, "audio_tokens", json_object_new_int(0));
	json_object *cd = obj("reasoning_tokens", json_object_new_int(0));
	json_object_object_add(cd, "audio_tokens", json_object_new_int(0));
	json_object_object_add(cd, "accepted_prediction_tokens", json_object_new_int(0));
	json_object_object_add(cd, "rejected_prediction_tokens", json_object_new_int(0));
	json_object *usage = obj("prompt_tokens", json_object_new_int(9));
	json_object_object_add(usage, "completion_tokens", json_object_new_int(34));
	json_object_object_add(usage, "total_tokens", json_object_new_int(43));
	json_object_object_add(usage, "prompt_tokens_details", pd);
	json_object_object_add(usage, "completion_tokens_details", cd);

	json_object *root = obj("id", json_object_new_string(id));
	json_object_object_add(root, "object", json_object_new_string("chat.completion"));
	json_object_object_add(root, "created", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(root, "model", json_object_new_string(model));
	json_object_object_add(root, "system_fingerprint", json_object_new_string("fp_6f61666367"));
	json_object_object_add(root, "service_tier", json_object_new_string("default"));
	json_object_object_add(root, "choices", choices);
	json_object_object_add(root, "usage", usage);
	return root;
}

static void serve(FCGX_Request *r, unsigned long seq)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	long n = cl ? atol(cl) : 0;
	char *body = malloc((size_t)n + 1);
	int got = n > 0 ? FCGX_GetStr(body, (int)n, r->in) : 0;
	body[got > 0 ? got : 0] = '\0';

	json_object *req = json_tokener_parse(body);
	json_object *m = NULL;
	const char *model = req && json_object_object_get_ex(req, "model", &m) ? json_object_get_string(m) : "none";
	json_object *resp = answer(model, seq);
	size_t len;
	const char *js = json_object_to_json_string_length(resp, JSON_C_TO_STRING_PLAIN, &len);

	char head[128];
	int hl = snprintf(head, sizeof head, "Status: 200 OK\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\n\r\n", len);
	FCGX_PutStr(head, hl, r->out);
	FCGX_PutStr(js, (int)len, r->out);
	json_object_put(resp);
	json_object_put(req);
	free(body);
}

static void *worker(void *arg)
{
	FCGX_Request r;
	unsigned long seq = (unsigned long)(size_t)arg << 40;
	FCGX_InitRequest(&r, 0, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		serve(&r, seq++);
		FCGX_Finish_r(&r);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	if (threads < 1 || threads > 256 || FCGX_Init() != 0)
		return 64;
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
	worker(NULL);
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	return 0;
}
