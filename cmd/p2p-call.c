/*
 * p2p-call: a SIP phone for the command line. It registers with the local
 * node's SIP front (which finds the other party through the overlay),
 * places and takes voice calls with audio from and to WAV files, and sends
 * and receives instant messages.
 *
 *   p2p-call [options] register | dial AOR | answer | message AOR TEXT
 *   p2p-call [options]                      (interactive)
 *
 * The SIP work is in libcore/sipua.c, the media in libcore/media*.c; this
 * file turns command lines into calls of the agent and its events into
 * lines on stdout (text for people, one JSON object per event with --json).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"
#include "media.h"
#include "sipauth.h"
#include "sipua.h"

#define PROMPT			"p2p-call> "
#define LEAVE_MS		4000	/* BYE, unregister: the most we wait */
#define DIAL_TIMEOUT_S		120
#define STATUS_TIMEOUT_MS	10000

enum mode { M_INTERACTIVE, M_REGISTER, M_DIAL, M_ANSWER, M_MESSAGE };
/* What the wait timer is waiting for. */
enum phase { P_NONE, P_REGISTERING, P_DIALING, P_WAITING_CALL,
    P_SENDING };

struct app {
	uv_loop_t *loop;
	p2p_ua *ua;
	enum mode mode;
	enum phase phase;
	int json, tty, readline_on, registering, leaving, answered, gave_up;
	int tls;		/* --tls: for the messages */
	int in_line;
	int rc;
	const char *target, *text, *record;
	char proxy[96];
	char aor[256];
	unsigned duration_s, answer_after_ms, timeout_s;
	p2p_pcm play;
	uv_signal_t sigint, sigterm;
	uv_timer_t wait, talk, answer;
	uv_poll_t in;
	int in_open;
	char line[4096];
	size_t linelen;
};

static struct app *the_app;	/* for the readline callbacks */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-call [options] register\n"
"       p2p-call [options] dial AOR\n"
"       p2p-call [options] answer\n"
"       p2p-call [options] message AOR TEXT\n"
"       p2p-call [options]                  (interactive)\n"
"options: [--dir NODEDIR | --socket PATH] [--proxy ADDR:PORT] [--as AOR]\n"
"         [--no-register] [--listen IP[:PORT]] [--play FILE.wav]\n"
"         [--record FILE.wav] [--codec pcmu|pcma] [--duration SECONDS]\n"
"         [--answer-after MS] [--timeout SECONDS] [--expires SECONDS]\n"
"         [--password-file FILE] [--tcp | --tls [--ca FILE]] [--no-ice]\n"
"         [--json]\n"
"AOR is user@domain. The SIP front and the user's AOR come from the node\n"
"(p2p-node run --sip) unless --proxy and --as give them. See p2p-call(1).\n");
}

/* ---- output ------------------------------------------------------------- */

/* Print above the prompt in interactive mode: clear the input line, print,
 * let readline draw the prompt and what was typed again. */
static void
out_begin(struct app *a)
{
	if (a->readline_on && !a->in_line)
		fputs("\r\033[K", stdout);
}

static void
out_end(struct app *a)
{
	fflush(stdout);
	/* Within the line handler readline draws the prompt itself. */
	if (a->readline_on && !a->in_line)
		rl_forced_update_display();
}

static void
say(struct app *a, const char *fmt, ...) P2P_PRINTF(2, 3);

static void
say(struct app *a, const char *fmt, ...)
{
	va_list ap;

	if (a->json)
		return;
	out_begin(a);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	out_end(a);
}

/* Feedback to what was typed: on stdout for people, on stderr with
 * --json (stdout carries only events then). */
static void
note(struct app *a, const char *fmt, ...) P2P_PRINTF(2, 3);

static void
note(struct app *a, const char *fmt, ...)
{
	va_list ap;

	out_begin(a);
	va_start(ap, fmt);
	vfprintf(a->json ? stderr : stdout, fmt, ap);
	va_end(ap);
	fputc('\n', a->json ? stderr : stdout);
	fflush(stderr);
	out_end(a);
}

/* One JSON event line (o is stolen). */
static void
jsay(struct app *a, json_t *o)
{
	char *s;

	if (!a->json || o == NULL) {
		json_decref(o);
		return;
	}
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		out_begin(a);
		fputs(s, stdout);
		fputc('\n', stdout);
		out_end(a);
		free(s);
	}
	json_decref(o);
}

/* Text from the network as a JSON string: bytes that are not UTF-8 (or
 * NUL) become '?'. */
static json_t *
jtext(const char *s, size_t n)
{
	json_t *j;
	char *c;
	size_t i;

	if ((j = json_stringn(s, n)) != NULL)
		return j;
	if ((c = malloc(n + 1)) == NULL)
		return json_string("");
	for (i = 0; i < n; i++)
		c[i] = (s[i] == '\0' || (unsigned char)s[i] >= 0x80) ? '?' :
		    s[i];
	j = json_stringn(c, n);
	free(c);
	return j != NULL ? j : json_string("");
}

/* The same for a terminal: no control characters but newline and tab. */
static char *
printable(const char *s, size_t n)
{
	char *c;
	size_t i;

	if ((c = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		c[i] = ((unsigned char)s[i] < 0x20 && s[i] != '\n' &&
		    s[i] != '\t') || s[i] == 0x7f ? '?' : s[i];
	c[n] = '\0';
	return c;
}

static const char *
codec_name(int pt)
{
	return pt == P2P_PT_PCMA ? "PCMA" : "PCMU";
}

/* ---- leaving ------------------------------------------------------------ */

static void
handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void
ua_done(p2p_ua *ua, void *user)
{
	struct app *a = user;

	(void)ua;
	a->ua = NULL;
	if (a->readline_on) {
		rl_callback_handler_remove();
		a->readline_on = 0;
		if (a->tty)
			fputc('\n', stdout);
	}
	if (a->in_open) {
		uv_poll_stop(&a->in);
		uv_close((uv_handle_t *)&a->in, handle_closed);
		a->in_open = 0;
	}
	uv_close((uv_handle_t *)&a->sigint, handle_closed);
	uv_close((uv_handle_t *)&a->sigterm, handle_closed);
	uv_close((uv_handle_t *)&a->wait, handle_closed);
	uv_close((uv_handle_t *)&a->talk, handle_closed);
	uv_close((uv_handle_t *)&a->answer, handle_closed);
}

/* Hang up, unregister, wait a little for both, then stop. */
static void
leave(struct app *a)
{
	if (a->ua == NULL)
		return;
	uv_timer_stop(&a->wait);
	uv_timer_stop(&a->talk);
	uv_timer_stop(&a->answer);
	if (a->in_open)
		uv_poll_stop(&a->in);
	if (a->leaving) {
		p2p_ua_shutdown(a->ua, 0, ua_done);	/* at once */
		return;
	}
	a->leaving = 1;
	p2p_ua_shutdown(a->ua, LEAVE_MS, ua_done);
}

static void
finish(struct app *a, int rc)
{
	if (a->leaving)
		return;
	a->rc = rc;
	leave(a);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct app *a = s->data;

	(void)signum;
	leave(a);
}

/* Nothing at all came back from anyone: the front (or peer) is not
 * there. */
static int
heard_nothing(struct app *a)
{
	p2p_ua_stats st;

	p2p_ua_get_stats(a->ua, &st);
	return st.received == 0;
}

/* ---- the phases --------------------------------------------------------- */

static void start_wait(struct app *, enum phase, unsigned);

static void
do_dial(struct app *a, const char *aor)
{
	char err[256];

	if (p2p_ua_dial(a->ua, aor, err, sizeof(err)) != 0) {
		p2p_cli_warn("cannot call %s: %s", aor, err);
		if (a->mode == M_DIAL)
			finish(a, P2P_EXIT_FAIL);
		return;
	}
	say(a, "calling %s", aor);
	jsay(a, json_pack("{s:s,s:s}", "event", "calling", "to", aor));
	if (a->mode == M_DIAL)
		start_wait(a, P_DIALING, a->timeout_s > 0 ? a->timeout_s :
		    DIAL_TIMEOUT_S);
}

static void
do_message(struct app *a, const char *aor, const char *text)
{
	char err[256];

	if (p2p_ua_message(a->ua, aor, text, err, sizeof(err)) == 0) {
		if (aor == NULL)
			note(a, "%s: type /dial AOR to call, or /msg AOR TEXT",
			    err);
		else
			p2p_cli_warn("cannot send to %s: %s", aor, err);
		if (a->mode == M_MESSAGE)
			finish(a, P2P_EXIT_FAIL);
		return;
	}
	if (a->mode == M_MESSAGE)
		start_wait(a, P_SENDING, a->timeout_s);
}

/* What the mode does once registered (or at once with --no-register). */
static void
go(struct app *a)
{
	switch (a->mode) {
	case M_DIAL:
		do_dial(a, a->target);
		break;
	case M_MESSAGE:
		do_message(a, a->target, a->text);
		break;
	case M_ANSWER:
		say(a, "waiting for a call on %s", p2p_ua_local(a->ua));
		jsay(a, json_pack("{s:s,s:s}", "event", "waiting", "local",
		    p2p_ua_local(a->ua)));
		start_wait(a, P_WAITING_CALL, a->timeout_s);
		break;
	default:
		a->phase = P_NONE;
		break;
	}
}

static void
wait_expired(uv_timer_t *t)
{
	struct app *a = t->data;
	int unreach = heard_nothing(a);

	switch (a->phase) {
	case P_REGISTERING:
		p2p_cli_warn("no answer to REGISTER from the SIP front at %s "
		    "within %u s", a->proxy, a->timeout_s);
		jsay(a, json_pack("{s:s,s:i,s:s,s:s,s:b}", "event", "failed",
		    "status", 408, "reason", "Request Timeout", "request",
		    "REGISTER", "timeout", 1));
		finish(a, unreach ? P2P_EXIT_UNREACHABLE : P2P_EXIT_FAIL);
		break;
	case P_DIALING:
		p2p_cli_warn("no answer within %u s%s", a->timeout_s > 0 ?
		    a->timeout_s : DIAL_TIMEOUT_S, unreach ?
		    ": nothing came back from the proxy" : "; hanging up");
		/* The CANCEL's 487 makes the "failed" event, unless nobody
		 * is there to answer it. */
		if (unreach)
			jsay(a, json_pack("{s:s,s:i,s:s,s:s,s:b}", "event",
			    "failed", "status", 408, "reason", "Request Timeout",
			    "request", "INVITE", "timeout", 1));
		a->gave_up = 1;
		(void)p2p_ua_hangup(a->ua);
		finish(a, unreach ? P2P_EXIT_UNREACHABLE : P2P_EXIT_FAIL);
		break;
	case P_WAITING_CALL:
		p2p_cli_warn("no call within %u s", a->timeout_s);
		finish(a, P2P_EXIT_FAIL);
		break;
	case P_SENDING:
		p2p_cli_warn("no answer to the MESSAGE within %u s",
		    a->timeout_s);
		jsay(a, json_pack("{s:s,s:i,s:s,s:s,s:b}", "event", "failed",
		    "status", 408, "reason", "Request Timeout", "request",
		    "MESSAGE", "timeout", 1));
		finish(a, unreach ? P2P_EXIT_UNREACHABLE : P2P_EXIT_FAIL);
		break;
	default:
		break;
	}
}

static void
start_wait(struct app *a, enum phase p, unsigned seconds)
{
	a->phase = p;
	uv_timer_stop(&a->wait);
	if (seconds > 0)
		uv_timer_start(&a->wait, wait_expired,
		    (uint64_t)seconds * 1000, 0);
}

static void
talk_over(uv_timer_t *t)
{
	struct app *a = t->data;

	(void)p2p_ua_hangup(a->ua);
}

static void
answer_now(uv_timer_t *t)
{
	struct app *a = t->data;

	if (p2p_ua_answer(a->ua) != 0)
		p2p_cli_warn("the call is gone");
}

/* ---- events ------------------------------------------------------------- */

static void
ev_registered(struct app *a, const p2p_ua_event *ev)
{
	say(a, "registered as %s with %s (expires %u s)", a->aor, a->proxy,
	    ev->expires);
	jsay(a, json_pack("{s:s,s:s,s:s,s:i}", "event", "registered", "aor",
	    a->aor, "proxy", a->proxy, "expires", (int)ev->expires));
	if (a->phase == P_REGISTERING) {
		uv_timer_stop(&a->wait);
		a->phase = P_NONE;
		go(a);
	}
}

static void
ev_register_failed(struct app *a, const p2p_ua_event *ev)
{
	jsay(a, json_pack("{s:s,s:i,s:s,s:s}", "event", "failed", "status",
	    ev->status, "reason", ev->reason, "request", "REGISTER"));
	if (ev->unreachable) {
		if (a->tls)
			p2p_cli_warn("no answer from the SIP front at %s over "
			    "TLS (is the node running with --sip-tls? does "
			    "the CA file hold the CA of its certificate?)",
			    a->proxy);
		else
			p2p_cli_warn("no answer from the SIP front at %s (is "
			    "the node running with --sip? see --proxy)",
			    a->proxy);
		if (a->phase == P_REGISTERING)
			finish(a, P2P_EXIT_UNREACHABLE);
		return;
	}
	p2p_cli_warn("registration refused: %d %s", ev->status, ev->reason);
	if (a->phase == P_REGISTERING)
		finish(a, P2P_EXIT_FAIL);
}

static void
ev_incoming(struct app *a, const p2p_ua_event *ev)
{
	jsay(a, json_pack("{s:s,s:s}", "event", "incoming", "from", ev->from));
	switch (a->mode) {
	case M_ANSWER:
		if (a->phase != P_WAITING_CALL)
			break;
		say(a, "incoming call from %s", ev->from);
		uv_timer_stop(&a->wait);
		a->phase = P_NONE;
		uv_timer_start(&a->answer, answer_now, a->answer_after_ms, 0);
		return;
	case M_INTERACTIVE:
		note(a, "incoming call from %s: /answer or /hangup",
		    ev->from);
		return;
	default:
		break;
	}
	say(a, "incoming call from %s refused (486 Busy Here); take calls "
	    "with p2p-call answer or the interactive mode", ev->from);
	(void)p2p_ua_reject(a->ua, 486);
}

static void
ev_answered(struct app *a, const p2p_ua_event *ev)
{
	char rm[96];

	a->answered = 1;
	uv_timer_stop(&a->wait);
	a->phase = P_NONE;
	snprintf(rm, sizeof(rm), strchr(ev->remote_ip, ':') != NULL ?
	    "[%s]:%u" : "%s:%u", ev->remote_ip, ev->remote_port);
	say(a, "answered (%s, media to %s)", codec_name(ev->pt), rm);
	jsay(a, json_pack("{s:s,s:s,s:s,s:s}", "event", "answered", "codec",
	    codec_name(ev->pt), "remote_media", rm, "peer", ev->from));
	/* --duration counts talk: from when the RTP starts */
	if (a->duration_s > 0 && !ev->media_wait)
		uv_timer_start(&a->talk, talk_over,
		    (uint64_t)a->duration_s * 1000, 0);
}

static void
ev_media(struct app *a, const p2p_ua_event *ev)
{
	say(a, "media over ICE: %s", ev->reason);
	jsay(a, json_pack("{s:s,s:s}", "event", "media", "ice_pair",
	    ev->reason));
	if (a->duration_s > 0 && !uv_is_active((uv_handle_t *)&a->talk))
		uv_timer_start(&a->talk, talk_over,
		    (uint64_t)a->duration_s * 1000, 0);
}

static void
ev_ended(struct app *a, const p2p_ua_event *ev)
{
	char err[256];
	int bad = 0;

	uv_timer_stop(&a->talk);
	uv_timer_stop(&a->answer);
	if (a->record != NULL && ev->answered) {
		if (p2p_wav_write(a->record, ev->rec, ev->nrec, 8000, err,
		    sizeof(err)) != 0) {
			p2p_cli_warn("%s: %s", a->record, err);
			bad = 1;
		}
	}
	say(a, "call ended: %s (RTP sent %llu, received %llu)", ev->reason,
	    (unsigned long long)ev->stats.sent,
	    (unsigned long long)ev->stats.received);
	jsay(a, json_pack("{s:s,s:s,s:I,s:I,s:b}", "event", "ended", "reason",
	    ev->reason, "rtp_sent", (json_int_t)ev->stats.sent,
	    "rtp_received", (json_int_t)ev->stats.received, "answered",
	    ev->answered));
	if (a->mode == M_DIAL || a->mode == M_ANSWER)
		finish(a, ev->answered && ev->ok && !bad ? P2P_EXIT_OK :
		    P2P_EXIT_FAIL);
}

static void
ev_failed(struct app *a, const p2p_ua_event *ev)
{
	uv_timer_stop(&a->wait);
	a->phase = P_NONE;
	if (ev->unreachable)
		p2p_cli_warn("call failed: nothing came back from %s",
		    a->proxy);
	else
		say(a, "call failed: %d %s", ev->status, ev->reason);
	jsay(a, json_pack("{s:s,s:i,s:s,s:s,s:b}", "event", "failed",
	    "status", ev->status, "reason", ev->reason, "request", "INVITE",
	    "timeout", a->gave_up));
	a->gave_up = 0;
	if (a->mode == M_DIAL) {
		if (!ev->unreachable && a->json)
			p2p_cli_warn("call failed: %d %s", ev->status,
			    ev->reason);
		finish(a, ev->unreachable ? P2P_EXIT_UNREACHABLE :
		    P2P_EXIT_FAIL);
	}
}

static void
ev_message(struct app *a, const p2p_ua_event *ev)
{
	char *t = printable(ev->text, ev->textlen);

	say(a, "message from %s: %s", ev->from, t != NULL ? t : "?");
	free(t);
	jsay(a, json_pack("{s:s,s:s,s:o,s:b}", "event", "message", "from",
	    ev->from, "text", jtext(ev->text, ev->textlen), "in_dialog",
	    ev->in_dialog));
}

static void
ev_message_sent(struct app *a, const p2p_ua_event *ev)
{
	int ok = ev->status >= 200 && ev->status < 300;

	if (ok) {
		say(a, "message delivered (%d %s)", ev->status, ev->reason);
		jsay(a, json_pack("{s:s,s:i,s:s}", "event", "sent", "status",
		    ev->status, "reason", ev->reason));
	} else {
		if (ev->unreachable)
			p2p_cli_warn("message not delivered: nothing came "
			    "back from %s", a->proxy);
		else
			p2p_cli_warn("message not delivered: %d %s",
			    ev->status, ev->reason);
		jsay(a, json_pack("{s:s,s:i,s:s,s:s}", "event", "failed",
		    "status", ev->status, "reason", ev->reason, "request",
		    "MESSAGE"));
	}
	if (a->mode == M_MESSAGE)
		finish(a, ok ? P2P_EXIT_OK : ev->unreachable ?
		    P2P_EXIT_UNREACHABLE : P2P_EXIT_FAIL);
}

static void
on_event(p2p_ua *ua, const p2p_ua_event *ev, void *user)
{
	struct app *a = user;

	(void)ua;
	switch (ev->type) {
	case P2P_UA_REGISTERED:
		ev_registered(a, ev);
		break;
	case P2P_UA_REGISTER_FAILED:
		ev_register_failed(a, ev);
		break;
	case P2P_UA_INCOMING:
		ev_incoming(a, ev);
		break;
	case P2P_UA_RINGING:
		say(a, "ringing");
		jsay(a, json_pack("{s:s}", "event", "ringing"));
		break;
	case P2P_UA_ANSWERED:
		ev_answered(a, ev);
		break;
	case P2P_UA_MEDIA:
		ev_media(a, ev);
		break;
	case P2P_UA_ENDED:
		ev_ended(a, ev);
		break;
	case P2P_UA_FAILED:
		ev_failed(a, ev);
		break;
	case P2P_UA_MESSAGE:
		ev_message(a, ev);
		break;
	case P2P_UA_MESSAGE_SENT:
		ev_message_sent(a, ev);
		break;
	}
}

/* ---- interactive mode --------------------------------------------------- */

static const char *commands[] = { "/dial", "/answer", "/hangup", "/msg",
    "/quit", "/help", NULL };

static void
help(struct app *a)
{
	note(a, "/dial AOR        call AOR (user@domain)\n"
	    "/answer          answer the incoming call\n"
	    "/hangup          end the call, or refuse the incoming one\n"
	    "/msg AOR TEXT    send an instant message\n"
	    "/quit            hang up, unregister and leave\n"
	    "any other line   a message to the party of the current call");
}

static void
command(struct app *a, char *line)
{
	char *arg, *rest;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\0' || a->ua == NULL || a->leaving)
		return;
	if (*line != '/') {
		do_message(a, NULL, line);
		return;
	}
	arg = line + strcspn(line, " \t");
	if (*arg != '\0')
		*arg++ = '\0';
	arg += strspn(arg, " \t");
	if (strcmp(line, "/dial") == 0) {
		if (*arg == '\0')
			note(a, "usage: /dial AOR");
		else
			do_dial(a, arg);
	} else if (strcmp(line, "/answer") == 0) {
		if (p2p_ua_answer(a->ua) != 0)
			note(a, "no incoming call to answer");
	} else if (strcmp(line, "/hangup") == 0) {
		if (p2p_ua_hangup(a->ua) != 0)
			note(a, "no call");
	} else if (strcmp(line, "/msg") == 0) {
		rest = arg + strcspn(arg, " \t");
		if (*rest != '\0')
			*rest++ = '\0';
		rest += strspn(rest, " \t");
		if (*arg == '\0' || *rest == '\0')
			note(a, "usage: /msg AOR TEXT");
		else
			do_message(a, arg, rest);
	} else if (strcmp(line, "/quit") == 0)
		finish(a, P2P_EXIT_OK);
	else if (strcmp(line, "/help") == 0)
		help(a);
	else
		note(a, "unknown command %s (/help lists them)", line);
}

static void
rl_line(char *line)
{
	struct app *a = the_app;

	if (line == NULL) {		/* end of input */
		finish(a, P2P_EXIT_OK);
		return;
	}
	if (*line != '\0')
		add_history(line);
	a->in_line = 1;
	command(a, line);
	a->in_line = 0;
	free(line);
}

static char *
cmd_gen(const char *text, int state)
{
	static size_t i, len;
	const char *c;

	if (state == 0) {
		i = 0;
		len = strlen(text);
	}
	while ((c = commands[i]) != NULL) {
		i++;
		if (strncmp(c, text, len) == 0)
			return strdup(c);
	}
	return NULL;
}

static char **
complete(const char *text, int start, int end)
{
	(void)end;
	rl_attempted_completion_over = 1;
	if (start != 0)
		return NULL;
	return rl_completion_matches(text, cmd_gen);
}

/* Standard input that is not a terminal: plain lines, no editing. */
static void
pipe_input(struct app *a)
{
	ssize_t n;
	char *nl;

	n = read(STDIN_FILENO, a->line + a->linelen,
	    sizeof(a->line) - 1 - a->linelen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		finish(a, P2P_EXIT_OK);
		return;
	}
	a->linelen += (size_t)n;
	a->line[a->linelen] = '\0';
	while ((nl = strchr(a->line, '\n')) != NULL) {
		size_t used = (size_t)(nl - a->line) + 1;
		*nl = '\0';
		if (nl > a->line && nl[-1] == '\r')
			nl[-1] = '\0';
		command(a, a->line);
		if (a->ua == NULL)
			return;
		memmove(a->line, a->line + used, a->linelen - used + 1);
		a->linelen -= used;
	}
	if (a->linelen == sizeof(a->line) - 1) {
		note(a, "line too long: ignored");
		a->linelen = 0;
	}
}

static void
on_input(uv_poll_t *p, int status, int events)
{
	struct app *a = p->data;

	(void)events;
	if (status < 0) {
		finish(a, P2P_EXIT_OK);
		return;
	}
	if (a->tty)
		rl_callback_read_char();
	else
		pipe_input(a);
}

static void
interactive_start(struct app *a)
{
	a->tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (uv_poll_init(a->loop, &a->in, STDIN_FILENO) != 0) {
		/* /dev/null, a regular file: nothing will ever be typed. */
		note(a, "standard input is not a terminal or a pipe; "
		    "leaving");
		finish(a, P2P_EXIT_OK);
		return;
	}
	a->in.data = a;
	a->in_open = 1;
	if (a->tty) {
		using_history();
		rl_attempted_completion_function = complete;
		rl_callback_handler_install(PROMPT, rl_line);
		a->readline_on = 1;
	}
	uv_poll_start(&a->in, UV_READABLE, on_input);
	say(a, "SIP on %s; /help lists the commands", p2p_ua_local(a->ua));
}

/* ---- setup -------------------------------------------------------------- */

/* "IP:PORT", "[IPv6]:PORT", or with port_optional just "IP". */
static int
split_hostport(const char *s, char *ip, size_t iplen, uint16_t *port,
    int port_optional)
{
	const char *colon, *end;
	unsigned long p;
	size_t n;
	char *e;

	*port = 0;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		n = (size_t)(end - s - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
		s++;
	} else if ((colon = strrchr(s, ':')) != NULL &&
	    strchr(s, ':') != colon) {
		colon = NULL;		/* a bare IPv6 address */
		n = strlen(s);
	} else
		n = colon != NULL ? (size_t)(colon - s) : strlen(s);
	if (n == 0 || n >= iplen)
		return -1;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (colon == NULL)
		return port_optional ? 0 : -1;
	errno = 0;
	p = strtoul(colon + 1, &e, 10);
	if (colon[1] == '\0' || *e != '\0' || errno != 0 || p > 65535 ||
	    (p == 0 && !port_optional))
		return -1;
	*port = (uint16_t)p;
	return 0;
}

/* A port number as the node gives it: an integer 1..65535. */
static int
port_ok(const json_t *j)
{
	return json_is_integer(j) && json_integer_value(j) >= 1 &&
	    json_integer_value(j) <= 65535;
}

/* The node's "media_ice" (JSON null when the overlay runs no ICE): its
 * STUN and TURN servers, for the calls' ICE agents. 1 when there are. */
static int
media_ice(const json_t *j, p2p_ice_cfg *ice)
{
	const json_t *stun = json_object_get(j, "stun"), *t;
	const char *lip;
	size_t i;

	memset(ice, 0, sizeof(*ice));
	if (!json_is_object(j))
		return 0;
	/* host candidates where the node's own agents have theirs */
	lip = json_string_value(json_object_get(j, "local_ip"));
	if (lip != NULL && strlen(lip) < sizeof(ice->local_ip))
		memcpy(ice->local_ip, lip, strlen(lip) + 1);
	if (json_is_object(stun) && json_string_value(json_object_get(stun,
	    "address")) != NULL && port_ok(json_object_get(stun, "port"))) {
		snprintf(ice->stun.host, sizeof(ice->stun.host), "%s",
		    json_string_value(json_object_get(stun, "address")));
		ice->stun.port = (uint16_t)json_integer_value(
		    json_object_get(stun, "port"));
	}
	json_array_foreach(json_object_get(j, "turn"), i, t) {
		p2p_ice_server *ts = &ice->turn[ice->nturn];
		const char *a = json_string_value(json_object_get(t,
		    "address"));
		const char *u = json_string_value(json_object_get(t,
		    "username"));
		const char *p = json_string_value(json_object_get(t,
		    "password"));

		if (ice->nturn >= P2P_ICE_MAX_TURN || a == NULL || u == NULL ||
		    p == NULL || !port_ok(json_object_get(t, "port")))
			continue;
		snprintf(ts->host, sizeof(ts->host), "%s", a);
		ts->port = (uint16_t)json_integer_value(json_object_get(t,
		    "port"));
		snprintf(ts->user, sizeof(ts->user), "%s", u);
		snprintf(ts->pass, sizeof(ts->pass), "%s", p);
		ice->nturn++;
	}
	return 1;
}

/* Ask the node for its SIP front, its user and its ICE servers. Returns an
 * exit code. */
static int
node_front(const char *sock, const char *transport, char *ip, size_t iplen,
    uint16_t *port, char *aor, size_t aorlen, int *auth, p2p_ice_cfg *ice,
    int *have_ice)
{
	char path[PATH_MAX];
	p2p_ctl_rpcerr err;
	json_t *res = NULL;
	const char *udp, *user;
	int st, rc;

	if (p2p_ctl_socket_path(sock, NULL, path, sizeof(path)) == -1) {
		p2p_cli_warn("cannot work out the control socket path; give "
		    "--dir, --socket, or --proxy and --as");
		return P2P_EXIT_UNREACHABLE;
	}
	st = p2p_ctl_call(path, "sip.status", NULL, STATUS_TIMEOUT_MS, NULL,
	    NULL, &res, &err);
	if (st == P2P_CTL_ECONNECT) {
		p2p_cli_warn("cannot reach the node at %s: %s (is p2p-node "
		    "running? give --dir or --socket, or --proxy ADDR:PORT to "
		    "use a SIP proxy directly)", path, err.message);
		p2p_ctl_rpcerr_free(&err);
		return P2P_EXIT_UNREACHABLE;
	}
	if (st == P2P_CTL_ERPC && (err.code == P2P_CTL_ERR_NOT_FOUND ||
	    err.code == P2P_CTL_METHOD_NOT_FOUND)) {
		p2p_cli_warn("the node at %s has no SIP front (%s): start it "
		    "with p2p-node run --sip [ADDR:]PORT, or give --proxy",
		    path, err.message);
		p2p_ctl_rpcerr_free(&err);
		return P2P_EXIT_UNREACHABLE;
	}
	if (st != P2P_CTL_OK) {
		rc = p2p_cli_call_status(st, &err, path);
		p2p_ctl_rpcerr_free(&err);
		return rc;
	}
	udp = json_string_value(json_object_get(res, transport));
	if (udp == NULL && strcmp(transport, "tls") == 0) {
		p2p_cli_warn("the node's SIP front takes no TLS: start it with "
		    "p2p-node run --sip-tls [ADDR:]PORT");
		json_decref(res);
		return P2P_EXIT_FAIL;
	}
	user = json_string_value(json_array_get(json_object_get(res, "aors"),
	    0));
	if (udp == NULL || split_hostport(udp, ip, iplen, port, 0) != 0) {
		p2p_cli_warn("the node at %s gave no usable SIP address", path);
		json_decref(res);
		return P2P_EXIT_FAIL;
	}
	if (aor[0] == '\0' && user != NULL)
		snprintf(aor, aorlen, "%s", user);
	*auth = json_is_true(json_object_get(res, "authentication"));
	*have_ice = media_ice(json_object_get(res, "media_ice"), ice);
	json_decref(res);
	return P2P_EXIT_OK;
}

static int
is_unspecified(const char *ip)
{
	return strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

static void
init_handles(struct app *a)
{
	uv_signal_init(a->loop, &a->sigint);
	uv_signal_init(a->loop, &a->sigterm);
	a->sigint.data = a->sigterm.data = a;
	uv_signal_start(&a->sigint, on_signal, SIGINT);
	uv_signal_start(&a->sigterm, on_signal, SIGTERM);
	uv_timer_init(a->loop, &a->wait);
	uv_timer_init(a->loop, &a->talk);
	uv_timer_init(a->loop, &a->answer);
	a->wait.data = a->talk.data = a->answer.data = a;
}

static enum mode
parse_mode(int argc, char **argv, struct app *a)
{
	const char *cmd;
	int n = argc - optind;

	if (n == 0)
		return M_INTERACTIVE;
	cmd = argv[optind];
	if (strcmp(cmd, "register") == 0 && n == 1)
		return M_REGISTER;
	if (strcmp(cmd, "answer") == 0 && n == 1)
		return M_ANSWER;
	if (strcmp(cmd, "dial") == 0 && n == 2) {
		a->target = argv[optind + 1];
		return M_DIAL;
	}
	if (strcmp(cmd, "message") == 0 && n == 3) {
		a->target = argv[optind + 1];
		a->text = argv[optind + 2];
		return M_MESSAGE;
	}
	usage(stderr);
	exit(P2P_EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "proxy", required_argument, NULL, 'P' },
		{ "as", required_argument, NULL, 'a' },
		{ "no-register", no_argument, NULL, 'N' },
		{ "listen", required_argument, NULL, 'l' },
		{ "play", required_argument, NULL, 'p' },
		{ "record", required_argument, NULL, 'r' },
		{ "codec", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'D' },
		{ "answer-after", required_argument, NULL, 'A' },
		{ "timeout", required_argument, NULL, 't' },
		{ "expires", required_argument, NULL, 'e' },
		{ "password-file", required_argument, NULL, 'W' },
		{ "tcp", no_argument, NULL, 'T' },
		{ "tls", no_argument, NULL, 'S' },
		{ "ca", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-ice", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct app a;
	const char *sock = NULL, *dir = NULL, *proxy = NULL, *as = NULL;
	const char *listen = "127.0.0.1", *playfile = NULL, *passfile = NULL;
	char path[4096], pip[64], lip[64], aor[256], err[256];
	char pass[P2P_SIPAUTH_MAX_PASS + 1] = "";
	int front_auth = 0, tcp = 0, tls = 0, have_ice = 0, no_ice = 0;
	p2p_ice_cfg ice;
	const char *ca = NULL;
	char capath[4096];
	uint16_t pport = 0, lport = 0;
	int pts[2] = { P2P_PT_PCMU, P2P_PT_PCMA };
	unsigned expires = 0;
	p2p_ua_config cfg;
	uv_loop_t loop;
	int c, rc;

	memset(&a, 0, sizeof(a));
	the_app = &a;
	p2p_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "d:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's': sock = optarg; break;
		case 'P': proxy = optarg; break;
		case 'a': as = optarg; break;
		case 'N': a.registering = -1; break;
		case 'l': listen = optarg; break;
		case 'p': playfile = optarg; break;
		case 'r': a.record = optarg; break;
		case 'c':
			if (strcasecmp(optarg, "pcmu") == 0) {
				pts[0] = P2P_PT_PCMU;
				pts[1] = P2P_PT_PCMA;
			} else if (strcasecmp(optarg, "pcma") == 0) {
				pts[0] = P2P_PT_PCMA;
				pts[1] = P2P_PT_PCMU;
			} else
				p2p_cli_die(P2P_EXIT_USAGE, "--codec: pcmu or "
				    "pcma");
			break;
		case 'D':
			a.duration_s = (unsigned)p2p_cli_number("--duration",
			    optarg, 86400);
			break;
		case 'A':
			a.answer_after_ms = (unsigned)p2p_cli_number(
			    "--answer-after", optarg, 3600000);
			break;
		case 't':
			a.timeout_s = (unsigned)p2p_cli_number("--timeout",
			    optarg, 86400);
			break;
		case 'e':
			expires = (unsigned)p2p_cli_number("--expires", optarg,
			    86400);
			if (expires == 0)
				p2p_cli_die(P2P_EXIT_USAGE, "--expires: at "
				    "least 1 second");
			break;
		case 'j': a.json = 1; break;
		case 'W': passfile = optarg; break;
		case 'T': tcp = 1; break;
		case 'S': tls = 1; break;
		case 'C': ca = optarg; break;
		case 'I': no_ice = 1; break;
		case 'h':
			usage(stdout);
			return P2P_EXIT_OK;
		default:
			usage(stderr);
			return P2P_EXIT_USAGE;
		}
	}
	a.mode = parse_mode(argc, argv, &a);
	if (tcp && tls)
		p2p_cli_die(P2P_EXIT_USAGE, "--tcp or --tls, not both");
	if (ca != NULL && !tls)
		p2p_cli_die(P2P_EXIT_USAGE, "--ca: only with --tls");
	a.registering = a.registering == 0;
	if (a.target != NULL && p2p_ua_aor_norm(a.target, aor,
	    sizeof(aor)) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "%s: an address of record is "
		    "user@domain (or sip:user@domain)", a.target);
	if (split_hostport(listen, lip, sizeof(lip), &lport, 1) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "--listen: IP or IP:PORT");
	if (is_unspecified(lip))
		p2p_cli_die(P2P_EXIT_USAGE, "--listen: give the address the "
		    "other side reaches this phone at, not %s", lip);
	if (proxy != NULL && split_hostport(proxy, pip, sizeof(pip), &pport,
	    0) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "--proxy: IP:PORT");
	aor[0] = '\0';
	if (as != NULL && p2p_ua_aor_norm(as, aor, sizeof(aor)) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "--as: an address of record is "
		    "user@domain (or sip:user@domain)");
	/* With --no-register the node is not asked: requests go to --proxy,
	 * or straight to the host of the AOR called. */
	if (proxy == NULL)
		pip[0] = '\0';
	if (proxy == NULL && a.registering) {
		sock = p2p_cli_socket(sock, dir, path, sizeof(path));
		if ((rc = node_front(sock, tls ? "tls" : tcp ? "tcp" : "udp",
		    pip, sizeof(pip), &pport, aor, sizeof(aor), &front_auth,
		    &ice, &have_ice)) != P2P_EXIT_OK)
			return rc;
	}
	if (passfile != NULL && p2p_sipauth_read_password(passfile, pass,
	    sizeof(pass), err, sizeof(err)) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "--password-file %s: %s", passfile,
		    err);
	if ((tcp || tls) && pip[0] == '\0')
		p2p_cli_die(P2P_EXIT_USAGE, "--%s: over %s every request goes "
		    "to the proxy: let the node name its front, or give "
		    "--proxy", tls ? "tls" : "tcp", tls ? "TLS" : "TCP");
	if (tls && ca == NULL) {
		/* the overlay CA issued the node's certificate */
		if (dir == NULL)
			p2p_cli_die(P2P_EXIT_USAGE, "--tls: give --ca FILE (the "
			    "CA of the front's certificate) or --dir NODEDIR "
			    "(its ca.pem)");
		snprintf(capath, sizeof(capath), "%s/ca.pem", dir);
		ca = capath;
	}
	if (ca != NULL && access(ca, R_OK) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "--ca %s: %s", ca, strerror(errno));
	if (front_auth && passfile == NULL)
		p2p_cli_warn("the node's SIP front asks for a password "
		    "(p2p-node run --sip-password-file): give the same file "
		    "with --password-file");
	if (aor[0] == '\0') {
		if (a.registering)
			p2p_cli_die(P2P_EXIT_USAGE, "whose phone is this? give "
			    "--as AOR (or --no-register)");
		snprintf(aor, sizeof(aor), "p2p-call@%s", lip);
	}
	snprintf(a.aor, sizeof(a.aor), "%s", aor);
	if (pip[0] == '\0')
		snprintf(a.proxy, sizeof(a.proxy), "the other party");
	else
		snprintf(a.proxy, sizeof(a.proxy), strchr(pip, ':') != NULL ?
		    "[%s]:%u" : "%s:%u", pip, pport);
	if (playfile != NULL && p2p_wav_read(playfile, 8000, &a.play, err,
	    sizeof(err)) != 0)
		p2p_cli_die(P2P_EXIT_USAGE, "--play: %s", err);

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "cannot start the event loop");
	a.loop = &loop;
	memset(&cfg, 0, sizeof(cfg));
	cfg.aor = aor;
	cfg.listen_ip = lip;
	cfg.listen_port = lport;
	cfg.proxy_ip = pip[0] != '\0' ? pip : NULL;
	cfg.proxy_port = pport;
	cfg.expires = expires;
	cfg.pts = pts;
	cfg.npts = 2;
	cfg.play = playfile != NULL ? &a.play : NULL;
	cfg.password = passfile != NULL ? pass : NULL;
	cfg.tcp = tcp;
	cfg.tls = tls;
	a.tls = tls;
	cfg.tls_ca = tls ? ca : NULL;
	cfg.ice = have_ice && !no_ice ? &ice : NULL;
	cfg.cb = on_event;
	cfg.user = &a;
	if ((a.ua = p2p_ua_new(&loop, &cfg, err, sizeof(err))) == NULL) {
		p2p_cli_warn("%s", err);
		uv_run(&loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&loop);
		p2p_pcm_free(&a.play);
		return P2P_EXIT_USAGE;
	}
	init_handles(&a);
	if (a.json)
		jsay(&a, json_pack("{s:s,s:s,s:s}", "event", "started", "aor",
		    aor, "local", p2p_ua_local(a.ua)));
	if (a.registering) {
		start_wait(&a, P_REGISTERING, a.timeout_s);
		(void)p2p_ua_register(a.ua);
	} else
		go(&a);
	if (a.mode == M_INTERACTIVE && a.ua != NULL && !a.leaving)
		interactive_start(&a);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		p2p_cli_warn("some handles were still open at exit");
	p2p_pcm_free(&a.play);
	return a.rc;
}
