#define _GNU_SOURCE
#include "CResolv.h"
#include <errno.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>

static int outcome_for_rcode(int rcode) {
    switch (rcode) {
    case ns_r_nxdomain: return CR_NXDOMAIN;
    case ns_r_refused: return CR_REFUSED;
    case ns_r_noerror: return CR_NODATA;
    default: return CR_SERVFAIL;
    }
}

void cr_query(const char *name, int ipv6, uint8_t *out, int capacity, cr_result *result) {
    memset(result, 0, sizeof *result);
    result->rcode = -1;
    struct __res_state state;
    memset(&state, 0, sizeof state);
    if (res_ninit(&state) != 0) {
        result->outcome = CR_ERROR;
        result->error_number = errno;
        res_nclose(&state);
        return;
    }
    // An answer that fits no UDP datagram is retried over TCP by the resolver itself.
    unsigned char answer[8192];
    memset(answer, 0, sizeof(HEADER));
    int type = ipv6 ? ns_t_aaaa : ns_t_a;
    errno = 0;
    int length = res_nquery(&state, name, ns_c_in, type, answer, sizeof answer);
    result->error_number = errno;
    if (length < 0) {
        // res_nquery hides the rcode behind h_errno; the header it copied tells it, when an
        // answer arrived at all (a timeout leaves the zeroed header: id 0, qr 0).
        const HEADER *header = (const HEADER *)answer;
        if (header->qr) {
            result->rcode = header->rcode;
            result->outcome = outcome_for_rcode(header->rcode);
        } else if (state.res_h_errno == HOST_NOT_FOUND) {
            result->outcome = CR_NXDOMAIN;
        } else if (state.res_h_errno == NO_DATA) {
            result->outcome = CR_NODATA;
        } else if (result->error_number == ECONNREFUSED) {
            result->outcome = CR_REFUSED;
        } else if (state.res_h_errno == TRY_AGAIN) {
            result->outcome = CR_TIMEOUT;
        } else {
            result->outcome = CR_ERROR;
        }
        res_nclose(&state);
        return;
    }
    res_nclose(&state);
    if (length > (int)sizeof answer) length = sizeof answer;
    ns_msg message;
    if (ns_initparse(answer, length, &message) != 0) {
        result->outcome = CR_ERROR;
        result->error_number = errno;
        return;
    }
    result->rcode = ns_msg_getflag(message, ns_f_rcode);
    int records = ns_msg_count(message, ns_s_an);
    uint32_t ttl = UINT32_MAX;
    int count = 0;
    int size = ipv6 ? 16 : 4;
    for (int index = 0; index < records; index++) {
        ns_rr record;
        if (ns_parserr(&message, ns_s_an, index, &record) != 0) continue;
        // A CNAME on the way counts: the chain is only as fresh as its shortest link.
        if (ns_rr_ttl(record) < ttl) ttl = ns_rr_ttl(record);
        if (ns_rr_class(record) != ns_c_in || ns_rr_type(record) != type || ns_rr_rdlen(record) != size) continue;
        if (count < capacity) {
            memcpy(out + count * size, ns_rr_rdata(record), size);
            count++;
        }
    }
    result->count = count;
    result->ttl = ttl == UINT32_MAX ? 0 : ttl;
    result->outcome = count > 0 ? CR_OK : CR_NODATA;
}

int cr_getaddrinfo(const char *name, uint8_t *out, int capacity) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *list = NULL;
    if (getaddrinfo(name, NULL, &hints, &list) != 0) return -1;
    int count = 0;
    for (struct addrinfo *entry = list; entry && count < capacity; entry = entry->ai_next) {
        uint8_t *slot = out + count * 17;
        memset(slot, 0, 17);
        if (entry->ai_family == AF_INET) {
            slot[0] = 4;
            memcpy(slot + 1, &((struct sockaddr_in *)entry->ai_addr)->sin_addr, 4);
        } else if (entry->ai_family == AF_INET6) {
            slot[0] = 6;
            memcpy(slot + 1, &((struct sockaddr_in6 *)entry->ai_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        count++;
    }
    freeaddrinfo(list);
    return count;
}
