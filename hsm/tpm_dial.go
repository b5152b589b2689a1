package hsm

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

// dial opens the connection c describes: an opener, a simulator's TCP
// ports, or a device or unix socket.
func dial(c TPMConfig) (transport.TPMCloser, error) {
	switch {
	case c.Open != nil:
		rwc, err := c.Open()
		if err != nil {
			return nil, err
		}
		return transport.FromReadWriteCloser(rwc), nil
	case c.Address != "":
		platform, err := platformAddress(c.Address)
		if err != nil {
			return nil, err
		}
		return tcp.Open(tcp.Config{CommandAddress: c.Address, PlatformAddress: platform})
	}
	path := c.Device
	if path == "" {
		path = DefaultTPMDevice
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w (a host without a TPM, a TPM turned off in the firmware, or no tpm_tis/tpm_crb driver; see `ls /dev/tpm*`)", err)
	case err != nil:
		return nil, err
	case fi.Mode()&fs.ModeSocket != 0:
		return linuxudstpm.Open(path)
	case fi.Mode()&fs.ModeCharDevice == 0:
		return nil, fmt.Errorf("%s is neither a TPM character device nor a unix socket", path)
	}
	t, err := linuxtpm.Open(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%w (run the node as a user of the group that owns %s, usually tss)", err, path)
	}
	return t, err
}

// platformAddress is the simulator's platform port: the command port + 1.
func platformAddress(command string) (string, error) {
	host, port, err := net.SplitHostPort(command)
	if err != nil {
		return "", err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || n == 65535 {
		return "", fmt.Errorf("address %s: want a numeric command port from 1 to 65534 (the platform port is the next one)", command)
	}
	return net.JoinHostPort(host, strconv.FormatUint(n+1, 10)), nil
}
