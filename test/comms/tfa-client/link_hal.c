/*
 * rsekit test harness: TF-A's SFCP link HAL (sfcp_link_hal.h) over `rse serve`'s socket framing,
 * so that TF-A v2.15.0's own SFCP client and lib/psa wrappers talk to the virtual RSE.
 *
 * The AP monitor is node 2, the RSE node 0 behind link 1 (TC's values). A packet goes out as a
 * MSG frame; a pointer-access packet as a MSG_MEM frame that carries the input buffers its host
 * pointers name, and the output regions the server wrote come back into this process's memory
 * at their addresses, as the RSE would write them through its ATU.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sfcp_link_hal.h"

#define MY_NODE 2
#define RSE_NODE 0
#define RSE_LINK 1
#define FRAME_MSG 0x00
#define FRAME_MSG_MEM 0x01

static int fd = -1;
static uint8_t pending[0x10000];
static size_t pending_size;
static bool pending_ready;

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

static int write_all(const uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w <= 0) return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r <= 0) return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

enum sfcp_hal_error_t sfcp_hal_init(void)
{
	const char *path = getenv("RSE_SOCKET");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (path == NULL || strlen(path) >= sizeof(a.sun_path)) return SFCP_HAL_ERROR_UNSUPPORTED_DEVICE;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) return SFCP_HAL_ERROR_UNSUPPORTED_DEVICE;
	return SFCP_HAL_ERROR_SUCCESS;
}

sfcp_link_id_t sfcp_hal_get_route(sfcp_node_id_t node_id) { return node_id == RSE_NODE ? RSE_LINK : 0; }

enum sfcp_hal_error_t sfcp_hal_get_my_node_id(sfcp_node_id_t *node_id)
{
	*node_id = MY_NODE;
	return SFCP_HAL_ERROR_SUCCESS;
}

/* The pointer-access body of an SFCP packet, if it is one: where host_ptrs and io_sizes are. */
static const uint8_t *pointer_body(const uint8_t *m, size_t n)
{
	size_t at = 4;
	if (n < 4) return NULL;
	if (m[0] & 0x20) at += 20;
	if (m[0] & 0x10) at += 4;
	if (n < at + 4 + 56 || m[at] != 1) return NULL;
	return m + at + 4; /* handle, ctrl_param, io_sizes[4] u32, host_ptrs[4] u64 */
}

enum sfcp_hal_error_t sfcp_hal_send_message(sfcp_link_id_t link_id, const uint8_t *message, size_t message_size)
{
	static uint8_t out[0x20000];
	const uint8_t *p = pointer_body(message, message_size);
	size_t at = 5;
	if (link_id != RSE_LINK || fd < 0) return SFCP_HAL_ERROR_INVALID_MESSAGE_ARGUMENT;
	if (p == NULL) {
		out[4] = FRAME_MSG;
	} else {
		uint32_t ctrl = rd32(p + 4);
		unsigned in_len = (ctrl >> 24) & 7, n = 0;
		out[4] = FRAME_MSG_MEM;
		out[at++] = 0;
		for (unsigned i = 0; i < in_len && i < 4; i++) {
			uint32_t size = rd32(p + 8 + 4 * i);
			uint64_t ptr = rd64(p + 24 + 8 * i);
			if (size == 0) continue;
			if (at + 12 + size > sizeof(out)) return SFCP_HAL_ERROR_INVALID_MESSAGE_SIZE;
			wr64(out + at, ptr);
			wr32(out + at + 8, size);
			memcpy(out + at + 12, (const void *)(uintptr_t)ptr, size);
			at += 12 + size;
			n++;
		}
		out[5] = (uint8_t)n;
	}
	if (at + message_size > sizeof(out)) return SFCP_HAL_ERROR_INVALID_MESSAGE_SIZE;
	memcpy(out + at, message, message_size);
	at += message_size;
	wr32(out, (uint32_t)(at - 4));
	if (write_all(out, at) != 0) return SFCP_HAL_ERROR_DEVICE_UNSUPPORTED;

	/* The reply frame: the server answers every request before the next one. */
	uint8_t head[5];
	static uint8_t body[0x20000];
	if (read_all(head, 5) != 0) return SFCP_HAL_ERROR_DEVICE_UNSUPPORTED;
	uint32_t len = rd32(head);
	if (len < 1 || len - 1 > sizeof(body) || read_all(body, len - 1) != 0) return SFCP_HAL_ERROR_DEVICE_UNSUPPORTED;
	size_t blen = len - 1, rest = 0;
	if (head[4] == FRAME_MSG_MEM) {
		unsigned n = blen > 0 ? body[0] : 0;
		rest = 1;
		for (unsigned i = 0; i < n; i++) {
			if (rest + 12 > blen) return SFCP_HAL_ERROR_INVALID_RECEIVE_SIZE;
			uint64_t addr = rd64(body + rest);
			uint32_t size = rd32(body + rest + 8);
			if (rest + 12 + size > blen) return SFCP_HAL_ERROR_INVALID_RECEIVE_SIZE;
			memcpy((void *)(uintptr_t)addr, body + rest + 12, size);
			rest += 12 + size;
		}
	} else if (head[4] != FRAME_MSG) {
		fprintf(stderr, "link: server frame 0x%x: %.*s\n", head[4], (int)blen, (const char *)body);
		return SFCP_HAL_ERROR_DEVICE_UNSUPPORTED;
	}
	if (blen - rest > sizeof(pending)) return SFCP_HAL_ERROR_INVALID_RECEIVE_SIZE;
	memcpy(pending, body + rest, blen - rest);
	pending_size = blen - rest;
	pending_ready = true;
	return SFCP_HAL_ERROR_SUCCESS;
}

enum sfcp_hal_error_t sfcp_hal_is_message_available(sfcp_link_id_t link_id, bool *is_available)
{
	*is_available = link_id == RSE_LINK && pending_ready;
	return SFCP_HAL_ERROR_SUCCESS;
}

enum sfcp_hal_error_t sfcp_hal_get_receive_message_size(sfcp_link_id_t link_id, size_t *message_size)
{
	if (link_id != RSE_LINK || !pending_ready) return SFCP_HAL_ERROR_MESSAGE_NOT_AVAILABLE;
	*message_size = pending_size;
	return SFCP_HAL_ERROR_SUCCESS;
}

enum sfcp_hal_error_t sfcp_hal_receive_message(sfcp_link_id_t link_id, uint8_t *message, size_t total_message_size,
					       size_t already_received, size_t size_to_receive)
{
	if (link_id != RSE_LINK || !pending_ready || total_message_size != pending_size ||
	    already_received + size_to_receive > pending_size)
		return SFCP_HAL_ERROR_INVALID_RECEIVE_SIZE;
	memcpy(message + already_received, pending + already_received, size_to_receive);
	if (already_received + size_to_receive == pending_size) pending_ready = false;
	return SFCP_HAL_ERROR_SUCCESS;
}
