"""Drives the simulator with the official clients: Slack's slack_sdk, Orkes' conductor-python, and
the anthropic and openai SDKs against the scripted model.

Run by tests/conformance.rs with the simulator's addresses in the environment. Every check is an
assert: a failure exits non-zero with the reason. It prints one line per check that passed.
"""
import json
import os
import time
import uuid

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from conductor.client.configuration.configuration import Configuration
from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
from conductor.client.http.rest import ApiException
from conductor.client.orkes_clients import OrkesClients

import anthropic
import openai

env = os.environ
CHANNEL = env["SLACK_ALERT_CHANNEL"]


def ok(what):
    print(f"ok {what}", flush=True)


# ---- Slack -------------------------------------------------------------------------------------
slack = WebClient(token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"])
slack.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))

me = slack.auth_test()
assert me["ok"] and me["user_id"], me.data
ok("auth.test")

try:
    WebClient(token="xoxb-wrong", base_url=env["SLACK_API_URL"]).auth_test()
    raise AssertionError("a wrong token was accepted")
except SlackApiError as e:
    assert e.response["error"] == "invalid_auth", e.response.data
ok("invalid_auth raises SlackApiError")

# Paging: iterate the SlackResponse, which follows response_metadata.next_cursor (it yields the same
# object, updated in place, so each page is read inside the loop).
pages, paged = 0, []
for page in slack.conversations_history(channel=CHANNEL, limit=2):
    pages += 1
    paged += [m["ts"] for m in page["messages"]]
whole = [m["ts"] for m in slack.conversations_history(channel=CHANNEL, limit=999)["messages"]]
assert pages >= 3, pages
assert paged == whole, (paged, whole)
assert len(set(paged)) == len(paged)
ok(f"conversations.history paging: {pages} pages, {len(paged)} messages, newest first, none lost")

parent = whole[-1]
posted = slack.chat_postMessage(channel=CHANNEL, thread_ts=parent, text="*Issue*: conformance",
                                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Issue*: conformance"}}],
                                unfurl_links=False)
thread = slack.conversations_replies(channel=CHANNEL, ts=parent)["messages"]
assert [m["ts"] for m in thread][-1] == posted["ts"], thread
assert thread[0]["reply_count"] == 1
assert posted["ts"] not in [m["ts"] for m in slack.conversations_history(channel=CHANNEL, limit=999)["messages"]]
ok("chat.postMessage lands in the thread, not the channel")

slack.reactions_add(channel=CHANNEL, timestamp=parent, name="eyes")
try:
    slack.reactions_add(channel=CHANNEL, timestamp=parent, name="eyes")
    raise AssertionError("a second identical reaction was accepted")
except SlackApiError as e:
    assert e.response["error"] == "already_reacted", e.response.data
ok("reactions.add: already_reacted")

# The Rust side injected one 429 on reactions.get: the SDK's handler must wait and retry.
started = time.monotonic()
got = slack.reactions_get(channel=CHANNEL, timestamp=parent)
assert got["message"]["reactions"][0]["name"] == "eyes", got.data
assert time.monotonic() - started >= 1.0
ok("429 + Retry-After honoured by RateLimitErrorRetryHandler")

# ---- Conductor ---------------------------------------------------------------------------------
config = Configuration(server_api_url=env["CONDUCTOR_SERVER_URL"],
                       authentication_settings=AuthenticationSettings(key_id=env["CONDUCTOR_AUTH_KEY"],
                                                                      key_secret=env["CONDUCTOR_AUTH_SECRET"]))
workflows = OrkesClients(configuration=config).get_workflow_client()

execution = workflows.get_workflow(env["EXECUTION_ID"], include_tasks=True)
assert execution.workflow_name == "health_check", execution.workflow_name
assert execution.status == "FAILED"
assert any(t.reference_task_name == "issues" for t in execution.tasks)
ok("get_workflow reads the failing execution with its tasks")

org, cluster = env["ORG_ID"], env["CLUSTER_NAME"]
domain = f"{org}#-#{cluster}"
pins = ["prepare_agent_handler", "save_agent_handler_results", "health_check_issues", "cluster_metrics_ingestion",
        "save_conductor_metrics", "find_latest_conductor_metrics_records", "certificates_expiration_summary",
        "fetch_deployment_info", "save_eks_version", "HTTP"]


def request(name, command, task_to_domain=None):
    return StartWorkflowRequest(
        name=name, version=1, correlation_id=domain,
        task_to_domain=task_to_domain or {"*": domain, **{p: "NO_DOMAIN" for p in pins}},
        input={"customerId": org, "organizationId": org, "agentHandlerId": str(uuid.uuid4()), "environment": "prod",
               "agentHandlerRequest": {"clusterName": cluster, "command": command, "parameters": {}}})


def start(name, command, task_to_domain=None):
    return workflows.start_workflow(request(name, command, task_to_domain))


wid = start("get_pods_data", "GET_PODS_DATA")
assert isinstance(wid, str) and len(wid) == 36, wid
for _ in range(200):
    run = workflows.get_workflow(wid, include_tasks=True)
    if run.status != "RUNNING":
        break
    time.sleep(0.05)
assert run.status == "COMPLETED", run.status
assert run.output["result"], run.output
ok("start_workflow returns the id; the command completes with its output")

before = time.monotonic()
run = workflows.execute_workflow(request("get_pods_data", "GET_PODS_DATA"), request_id=str(uuid.uuid4()),
                                 wait_for_seconds=10)
assert run.status == "COMPLETED", run.status
assert len(run.workflow_id) == 36 and run.output["result"], run
assert any(t.reference_task_name == "get_pods_data_ref" for t in run.tasks), run.tasks
assert time.monotonic() - before < 9, "answered when the workflow completed, not at the end of the wait"
ok("execute_workflow (synchronous) answers the completed run with its output and tasks")

for name, command, t2d, why in [
    ("delete_pod", "DELETE_POD", None, "not a read-only"),
    ("get_pods_data", "GET_PODS_DATA", {"*": "other#-#cluster"}, "no known cluster"),
]:
    try:
        start(name, command, t2d)
        raise AssertionError(f"{name} was accepted")
    except ApiException as e:
        assert e.status == 400, e.status
        assert why in str(e.body), e.body
ok("a mutating workflow and a wrong taskToDomain are rejected with 400")
# ---- the scripted model, read by the official openai SDK ---------------------------------------
oai = openai.OpenAI(base_url=env["OPENAI_BASE_URL"], api_key=env["OPENAI_API_KEY"], max_retries=2)
functions = [{"type": "function", "function": {"name": "get_incident_details", "description": "the failing execution",
                                               "parameters": {"type": "object", "properties": {}}}}]
asked = [{"role": "system", "content": "triage"}, {"role": "user", "content": f"Alert (execution {env['EXECUTION_ID']})"}]
# The Rust side injected a 503 Overloaded first: the SDK retries it.
calls, finish, usage = {}, None, None
for chunk in oai.chat.completions.create(model="sim-model", messages=asked, tools=functions, stream=True,
                                         stream_options={"include_usage": True}):
    if chunk.usage:
        usage = chunk.usage
    for choice in chunk.choices:
        finish = choice.finish_reason or finish
        for frag in choice.delta.tool_calls or []:
            c = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
            c["id"] = frag.id or c["id"]
            c["name"] += (frag.function.name or "") if frag.function else ""
            c["arguments"] += (frag.function.arguments or "") if frag.function else ""
assert finish == "tool_calls" and usage and usage.completion_tokens > 0, (finish, usage)
call = calls[0]
assert call["name"] == "get_incident_details" and json.loads(call["arguments"]) == {"execution_id": env["EXECUTION_ID"]}, call
answered = asked + [{"role": "assistant", "content": None, "tool_calls": [
    {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]},
                    {"role": "tool", "tool_call_id": call["id"], "content": "FAILED"}]
whole = oai.chat.completions.create(model="sim-model", messages=answered, tools=functions)
assert whole.choices[0].finish_reason == "stop" and whole.choices[0].message.content.startswith("*Issue*:"), whole
text = "".join(c.choices[0].delta.content or "" for c in
               oai.chat.completions.create(model="sim-model", messages=answered, tools=functions, stream=True) if c.choices)
assert text == whole.choices[0].message.content, text
ok("openai SDK parses the scripted model: tool-call fragments by index, text chunks, usage chunk, whole replies, 503 retried")
# ---- the scripted model, read by the official anthropic SDK ------------------------------------
model = anthropic.Anthropic(base_url=env["ANTHROPIC_BASE_URL"], api_key=env["ANTHROPIC_API_KEY"], max_retries=2)
tools = [{"name": "get_incident_details", "description": "the failing execution", "input_schema": {"type": "object", "properties": {}}}]
question = [{"role": "user", "content": f"Alert (execution {env['EXECUTION_ID']})"}]
# The Rust side injected one 529 Overloaded: the SDK retries it.
with model.messages.stream(model="claude-sim", max_tokens=512, tools=tools, messages=question) as stream:
    first = stream.get_final_message()
assert first.stop_reason == "tool_use", first
call = [b for b in first.content if b.type == "tool_use"][0]
assert call.name == "get_incident_details" and call.input == {"execution_id": env["EXECUTION_ID"]}, call
answer = question + [{"role": "assistant", "content": [b.model_dump() for b in first.content]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "FAILED"}]}]
text = ""
with model.messages.stream(model="claude-sim", max_tokens=512, tools=tools, messages=answer) as stream:
    for piece in stream.text_stream:
        text += piece
    final = stream.get_final_message()
assert final.stop_reason == "end_turn" and text.startswith("*Issue*:"), (final, text)
ok("anthropic SDK parses the scripted model's stream: tool_use input from JSON fragments, text deltas, 529 retried")
print("conformance: all checks passed")
