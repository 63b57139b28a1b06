/*
 * pcap_floor.c: the floor for reading a capture file -- libpcap's own read loop and
 * nothing else (a callback that counts frames and wire bytes).
 *
 *   gcc -O2 -Wall -Wextra -Werror -o pcap_floor pcap_floor.c -lpcap
 *   ./pcap_floor FILE     prints: packets <n> bytes <n> seconds <s>
 *
 * `seconds` covers pcap_open_offline .. pcap_close, the same span the engine's
 * in-process measurement covers, so the two are directly comparable.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct tally {
    uint64_t packets;
    uint64_t bytes;
};

static void count_frame(u_char *user, const struct pcap_pkthdr *header, const u_char *frame)
{
    struct tally *tally = (struct tally *)user;
    (void)frame;
    tally->packets++;
    tally->bytes += header->len;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct tally tally = {0, 0};
    if (argc != 2) {
        fprintf(stderr, "usage: %s CAPTURE\n", argv[0]);
        return 2;
    }
    double started = now_s();
    pcap_t *pcap = pcap_open_offline(argv[1], errbuf);
    if (pcap == NULL) {
        fprintf(stderr, "pcap_floor: %s\n", errbuf);
        return 1;
    }
    int rc;
    while ((rc = pcap_dispatch(pcap, 4096, count_frame, (u_char *)&tally)) > 0) {
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcap_floor: %s\n", pcap_geterr(pcap));
        pcap_close(pcap);
        return 1;
    }
    pcap_close(pcap);
    printf("packets %llu bytes %llu seconds %.6f\n", (unsigned long long)tally.packets,
           (unsigned long long)tally.bytes, now_s() - started);
    return 0;
}
