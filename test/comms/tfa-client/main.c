/*
 * rsekit test harness: drives TF-A v2.15.0's lib/psa wrappers (compiled from the upstream sources
 * in ../shared/upstream) against `rse serve`, and prints each result as `NAME STATUS [hex...]` for
 * the test to check. The delegated-attestation token needs the hash of the key the RSE returned:
 * the test reads the key, writes that hash on stdin as hex, and the driver asks for the token.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <drivers/arm/sfcp.h>
#include <delegated_attestation.h>
#include <measured_boot.h>
#include <rse_platform_api.h>

static void hex(const char *name, int status, const uint8_t *b, size_t n)
{
	printf("%s %d ", name, status);
	for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
	printf("\n");
	fflush(stdout);
}

int main(void)
{
	if (sfcp_init() != SFCP_ERROR_SUCCESS) {
		printf("INIT failed\n");
		return 1;
	}
	uint8_t signer[32], meas[32];
	for (int i = 0; i < 32; i++) {
		signer[i] = 0x11;
		meas[i] = (uint8_t)i;
	}
	const uint8_t version[] = "1.2.3", sw_type[] = "BL_2";
	hex("EXTEND", rse_measured_boot_extend_measurement(8, signer, 32, version, 5, 0x02000009, sw_type, 4, meas, 32, false), NULL, 0);

	uint8_t r_signer[64], r_version[14], r_sw[20], r_meas[64];
	size_t signer_len = 0, version_len = 0, sw_len = 0, meas_len = 0;
	uint32_t algo = 0;
	bool locked = true;
	int st = rse_measured_boot_read_measurement(8, r_signer, sizeof(r_signer), &signer_len, r_version, sizeof(r_version), &version_len,
						    &algo, r_sw, sizeof(r_sw), &sw_len, r_meas, sizeof(r_meas), &meas_len, &locked);
	hex("READ_MEAS", st, r_meas, meas_len);
	hex("READ_SIGNER", st, r_signer, signer_len);
	printf("READ_INFO %d %.*s %.*s 0x%08x %d\n", st, (int)version_len, (const char *)r_version, (int)sw_len, (const char *)r_sw, algo,
	       locked ? 1 : 0);

	uint8_t key[0x80];
	size_t key_size = 0;
	st = rse_delegated_attest_get_delegated_key(0x12, 384, key, sizeof(key), &key_size, 0x02000009);
	hex("DAK", st, key, key_size);

	char line[256];
	uint8_t dak_hash[64];
	size_t hash_len = 0;
	if (fgets(line, sizeof(line), stdin) != NULL)
		for (size_t i = 0; line[2 * i] && line[2 * i + 1] && i < sizeof(dak_hash); i++) {
			unsigned v;
			if (sscanf(line + 2 * i, "%2x", &v) != 1) break;
			dak_hash[hash_len++] = (uint8_t)v;
		}
	static uint8_t token[0x800];
	size_t token_size = 0;
	st = rse_delegated_attest_get_token(dak_hash, hash_len, token, sizeof(token), &token_size);
	hex("TOKEN", st, token, token_size);

	uint32_t before = 0, after = 0;
	int st1 = rse_platform_nv_counter_read(0, sizeof(before), (uint8_t *)&before);
	int st2 = rse_platform_nv_counter_increment(0);
	int st3 = rse_platform_nv_counter_read(0, sizeof(after), (uint8_t *)&after);
	printf("NV %d %d %d %u %u\n", st1, st2, st3, before, after);

	uint8_t entropy[64];
	memset(entropy, 0, sizeof(entropy));
	hex("ENTROPY", rse_platform_get_entropy(entropy, 32), entropy, 32);
	printf("DONE\n");
	return 0;
}
