/* responses_translate.h: pure translation between the Responses API and chat completions, both ways */
#ifndef OAF_RESPONSES_TRANSLATE_H
#define OAF_RESPONSES_TRANSLATE_H
#include <json-c/json.h>

#include "strbuf.h"

struct rsp_builder;
struct chat_sink;

/* Appends to out the chat completion body that asks what the validated
 * Responses body resp asks (resp is borrowed, read only):
 *   instructions → a leading system message; input as a string → one user
 *   message; message items → messages (developer → system, which every
 *   chat server knows; input_text/output_text → text parts, input_image →
 *   image_url, input_file → file); function_call items → an assistant
 *   message's tool_calls (consecutive calls in one message);
 *   function_call_output → a tool message; reasoning items are dropped;
 *   tools → nested function tools; tool_choice → chat's shapes;
 *   text.format → response_format; max_output_tokens →
 *   max_completion_tokens; temperature, top_p, parallel_tool_calls, user,
 *   safety_identifier, prompt_cache_key, reasoning.effort → reasoning_effort,
 *   stream (with stream_options.include_usage, so that the usage of the
 *   closing event is known).
 * Not carried: store, metadata, include, truncation, service_tier, text
 * verbosity, top_logprobs (a chat server would answer differently, or not
 * at all). When nothing would make a message, the body has an empty
 * messages list, which chat validation refuses. */
void rt_request_to_chat(json_object *resp, strbuf *out);

/* Feeds an upstream's whole chat.completion (its first choice: text, tool
 * calls, finish_reason, usage) into b. Returns the builder's result: 0, or
 * -1 when the client has gone. */
int rt_apply_chat_completion(struct rsp_builder *b, json_object *completion);

/* Feeds one chat.completion.chunk of an upstream's stream into b: content
 * deltas, tool-call pieces (by their index), finish_reason and a usage
 * chunk. 0, or -1 when the client has gone. */
int rt_apply_chat_chunk(struct rsp_builder *b, json_object *chunk);

/* Fills *sink with callbacks into b (the mock, or any backend that calls
 * delta/tool_call/finish/usage); its relay takes an upstream's chat
 * objects and translates them (rt_apply_chat_completion, _chunk). */
void rsp_builder_sink(struct rsp_builder *b, struct chat_sink *sink);

#endif
