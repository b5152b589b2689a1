package hsm

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// tpmKeyFile is the TPM sealer's key file, written by CreateTPMKey as
// indented JSON with mode 0600:
//
//	{
//	  "format": "countersign-tpm-key",
//	  "version": 1,
//	  "created": "2026-01-02T03:04:05Z",
//	  "primary": "ecc-p256-srk",
//	  "primary_name": "000b…",
//	  "pcr_bank": "sha256",
//	  "pcrs": [7],
//	  "pcr_values": ["a1b2…"],
//	  "pin": false,
//	  "public": "base64 of the object's TPM2B_PUBLIC",
//	  "private": "base64 of the object's TPM2B_PRIVATE"
//	}
//
// primary names the template of the primary key the object lives under
// (the TCG ECC P-256 SRK template in the owner hierarchy) and primary_name
// is its TPM name, so that OpenTPM can tell another TPM, or a cleared one,
// from a damaged file. pcr_values are the SHA-256 PCR values, in the order
// of pcrs, that the object's policy requires; OpenTPM checks that the
// object's policy digest is the one they give, so they cannot be altered
// without the file failing to open, and compares them with the PCRs' values
// now to name the PCR that changed. Unknown fields are refused. A change
// that old code must not misread bumps version; version 1 is read forever.
type tpmKeyFile struct {
	Format      string    `json:"format"`
	Version     int       `json:"version"`
	Created     time.Time `json:"created"`
	Primary     string    `json:"primary"`
	PrimaryName string    `json:"primary_name"`
	PCRBank     string    `json:"pcr_bank"`
	PCRs        []int     `json:"pcrs"`
	PCRValues   []string  `json:"pcr_values"`
	PIN         bool      `json:"pin"`
	Public      []byte    `json:"public"`
	Private     []byte    `json:"private"`
}

const (
	tpmKeyFormat  = "countersign-tpm-key"
	tpmKeyVersion = 1
	primaryECCSRK = "ecc-p256-srk"
	pcrBankSHA256 = "sha256"
)

// tpmKey is a parsed, self-consistent key file.
type tpmKey struct {
	file        tpmKeyFile
	primaryName []byte
	pcrValues   [][]byte
	public      tpm2.TPM2BPublic
	private     tpm2.TPM2BPrivate
}

// CreateTPMKey makes a new data key, has the TPM seal it to the current
// values of c.PCRs and to c.PIN, checks that it unseals, and writes the key
// file at path with mode 0600. It refuses to overwrite an existing file.
// Open the sealer with [OpenTPM].
func CreateTPMKey(path string, c TPMConfig) error {
	if err := c.check(); err != nil {
		return err
	}
	pcrs := c.PCRs
	if pcrs == nil {
		pcrs = DefaultTPMPCRs()
	}
	pcrs, err := checkPCRs(pcrs)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("hsm: TPM key file %s already exists; refusing to overwrite it (move it away first if it is really unused): %w", path, os.ErrExist)
	}

	tpm, err := openTransport(c)
	if err != nil {
		return err
	}
	defer tpm.Close()
	srk, err := createPrimary(tpm, c.where())
	if err != nil {
		return err
	}
	defer flush(tpm, srk.handle)

	values, err := readPCRs(tpm, pcrs)
	if err != nil {
		return err
	}
	policy, err := policyDigest(pcrs, values)
	if err != nil {
		return err
	}
	dataKey := make([]byte, dataKeyLen)
	rand.Read(dataKey)
	defer clear(dataKey)

	created, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{
			Handle: srk.handle,
			Name:   srk.name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16,
				tpm2.Salted(srk.handle, srk.public),
				tpm2.AESEncryption(128, tpm2.EncryptIn)),
		},
		InSensitive: tpm2.TPM2BSensitiveCreate{
			Sensitive: &tpm2.TPMSSensitiveCreate{
				UserAuth: tpm2.TPM2BAuth{Buffer: c.PIN},
				Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: dataKey}),
			},
		},
		InPublic: tpm2.New2B(sealedTemplate(policy, len(c.PIN) > 0)),
	}.Execute(tpm)
	if err != nil {
		return fmt.Errorf("hsm: TPM at %s: create the sealed data key: %w", c.where(), err)
	}

	f := tpmKeyFile{
		Format: tpmKeyFormat, Version: tpmKeyVersion, Created: time.Now().UTC().Truncate(time.Second),
		Primary: primaryECCSRK, PrimaryName: hex.EncodeToString(srk.name.Buffer),
		PCRBank: pcrBankSHA256, PCRs: pcrs, PIN: len(c.PIN) > 0,
		Public: tpm2.Marshal(created.OutPublic), Private: tpm2.Marshal(created.OutPrivate),
	}
	for _, v := range values {
		f.PCRValues = append(f.PCRValues, hex.EncodeToString(v))
	}
	content, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	content = append(content, '\n')

	// Prove the new key works before anything depends on it.
	key, err := parseTPMKey(content)
	if err != nil {
		return fmt.Errorf("hsm: the TPM key just made does not parse: %w", err)
	}
	got, err := unsealDataKey(tpm, c, key, srk)
	if err != nil {
		return fmt.Errorf("hsm: the TPM key just made does not unseal: %w", err)
	}
	defer clear(got)
	if !bytes.Equal(got, dataKey) {
		return errors.New("hsm: the TPM unsealed another data key than the one it sealed")
	}
	return writeNewFile(path, "TPM key file", content)
}

// OpenTPM reads the key file at path and has the TPM unseal its data key,
// with c.PIN if the key has a PIN. The TPM is used only here.
//
// Errors: [ErrNoTPM] if the TPM cannot be reached; [ErrPCRChanged] naming
// each PCR that differs from its sealed value; [ErrWrongPIN] saying how
// many failures remain before lockout; [ErrTPMLockout]; [ErrLocked] for a
// key file that is missing, damaged or from another TPM, and for a PIN that
// is missing or not wanted.
func OpenTPM(path string, c TPMConfig) (*TPM, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	content, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	key, err := parseTPMKey(content)
	if err != nil {
		return nil, fmt.Errorf("%w: TPM key file %s: %w: restore it from its backup", ErrLocked, path, err)
	}
	switch {
	case key.file.PIN && len(c.PIN) == 0:
		return nil, fmt.Errorf("%w: TPM key file %s needs a PIN: give it (pin_file or pin_env)", ErrLocked, path)
	case !key.file.PIN && len(c.PIN) > 0:
		return nil, fmt.Errorf("%w: TPM key file %s has no PIN, but a PIN was given: check that this is the right file, or give no PIN", ErrLocked, path)
	}

	tpm, err := openTransport(c)
	if err != nil {
		return nil, err
	}
	defer tpm.Close()
	srk, err := createPrimary(tpm, c.where())
	if err != nil {
		return nil, err
	}
	defer flush(tpm, srk.handle)
	if !bytes.Equal(srk.name.Buffer, key.primaryName) {
		return nil, fmt.Errorf("%w: TPM key file %s was made by another TPM, or this TPM (%s) was cleared since: its storage key differs", ErrLocked, path, c.where())
	}
	if err := comparePCRs(tpm, key); err != nil {
		return nil, err
	}
	dataKey, err := unsealDataKey(tpm, c, key, srk)
	if err != nil {
		return nil, err
	}
	defer clear(dataKey)
	return newTPM(dataKey, key.file.PCRs)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: TPM key file: %w", ErrLocked, err)
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, maxKeyFileLen+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read TPM key file: %w", ErrLocked, err)
	}
	if len(content) > maxKeyFileLen {
		return nil, fmt.Errorf("%w: %s is not a TPM key file: larger than %d bytes", ErrLocked, path, maxKeyFileLen)
	}
	return content, nil
}

// parseTPMKey parses a key file and checks that its parts agree: the
// object is a sealed-data object whose policy is the one its PCR values
// and PIN flag give.
func parseTPMKey(content []byte) (*tpmKey, error) {
	var f tpmKeyFile
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a TPM key file: %v", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the key")
	}
	if f.Format != tpmKeyFormat {
		return nil, fmt.Errorf("format %q, want %q", f.Format, tpmKeyFormat)
	}
	if f.Version != tpmKeyVersion {
		return nil, fmt.Errorf("version %d, this build reads version %d", f.Version, tpmKeyVersion)
	}
	if f.Primary != primaryECCSRK {
		return nil, fmt.Errorf("primary key %q, want %q", f.Primary, primaryECCSRK)
	}
	if f.PCRBank != pcrBankSHA256 {
		return nil, fmt.Errorf("PCR bank %q, want %q", f.PCRBank, pcrBankSHA256)
	}
	k := &tpmKey{file: f}
	var err error
	if k.primaryName, err = hex.DecodeString(f.PrimaryName); err != nil || len(k.primaryName) != 2+sha256.Size {
		return nil, errors.New("malformed primary_name")
	}
	sorted, err := checkPCRs(f.PCRs)
	if err != nil || !slices.Equal(sorted, f.PCRs) {
		return nil, errors.New("malformed pcrs: want distinct PCRs 0 to 23, ascending")
	}
	if len(f.PCRValues) != len(f.PCRs) {
		return nil, errors.New("pcr_values does not match pcrs")
	}
	for _, s := range f.PCRValues {
		v, err := hex.DecodeString(s)
		if err != nil || len(v) != sha256.Size {
			return nil, errors.New("malformed pcr_values")
		}
		k.pcrValues = append(k.pcrValues, v)
	}

	pub, err := unmarshalExact[tpm2.TPM2BPublic](f.Public)
	if err != nil {
		return nil, fmt.Errorf("malformed public: %v", err)
	}
	priv, err := unmarshalExact[tpm2.TPM2BPrivate](f.Private)
	if err != nil || len(priv.Buffer) == 0 {
		return nil, errors.New("malformed private")
	}
	k.public, k.private = *pub, *priv
	contents, err := k.public.Contents()
	if err != nil {
		return nil, fmt.Errorf("malformed public: %v", err)
	}
	policy, err := policyDigest(f.PCRs, k.pcrValues)
	if err != nil {
		return nil, err
	}
	want := sealedTemplate(policy, f.PIN)
	got := *contents
	got.Unique = want.Unique // the TPM's own commitment to the sealed data
	if !bytes.Equal(tpm2.Marshal(got), tpm2.Marshal(want)) {
		return nil, errors.New("the sealed object is not the one its PCR values and PIN setting describe")
	}
	return k, nil
}

// unmarshalExact decodes one TPM structure that must fill b exactly.
func unmarshalExact[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](b []byte) (v *T, err error) {
	defer func() {
		if r := recover(); r != nil { // go-tpm's reflection on hostile input
			v, err = nil, fmt.Errorf("unparsable: %v", r)
		}
	}()
	v, err = tpm2.Unmarshal[T, P](b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tpm2.Marshal(*v), b) {
		return nil, errors.New("not in canonical form, or trailing data")
	}
	return v, nil
}

// sealedTemplate is the public area of a sealed data key with policy
// authPolicy. Without a PIN the object is exempt from dictionary-attack
// lockout, since there is nothing to guess.
func sealedTemplate(authPolicy []byte, pin bool) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:        true,
			FixedParent:     true,
			UserWithAuth:    false, // only the policy session unseals
			AdminWithPolicy: true,
			NoDA:            !pin,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: authPolicy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{Buffer: make([]byte, sha256.Size)}),
	}
}

func pcrSelection(pcrs []int) tpm2.TPMLPCRSelection {
	u := make([]uint, len(pcrs))
	for i, p := range pcrs {
		u[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(u...),
	}}}
}

// pcrDigest is what PolicyPCR compares: SHA-256 of the PCR values
// concatenated in ascending PCR order.
func pcrDigest(values [][]byte) []byte {
	h := sha256.New()
	for _, v := range values {
		h.Write(v)
	}
	return h.Sum(nil)
}

// policyDigest is the object's authPolicy: PolicyPCR(pcrs = values), then
// PolicyAuthValue.
func policyDigest(pcrs []int, values [][]byte) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: pcrDigest(values)}, Pcrs: pcrSelection(pcrs)}).Update(calc); err != nil {
		return nil, err
	}
	if err := (tpm2.PolicyAuthValue{}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// openTransport connects to the TPM c names and makes sure it has been
// started.
func openTransport(c TPMConfig) (transport.TPMCloser, error) {
	t, err := dial(c)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrNoTPM, c.where(), err)
	}
	_, err = tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTManufacturer), PropertyCount: 1}.Execute(t)
	if errors.Is(err, tpm2.TPMRCInitialize) {
		_, err = tpm2.Startup{StartupType: tpm2.TPMSUClear}.Execute(t)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("%w at %s: it does not answer: %w", ErrNoTPM, c.where(), err)
	}
	return t, nil
}

type primary struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	public tpm2.TPMTPublic
}

// createPrimary derives the storage key from the owner seed: the same key
// every time on the same TPM until the TPM is cleared.
func createPrimary(t transport.TPM, where string) (*primary, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
			return nil, fmt.Errorf("hsm: TPM at %s: its owner hierarchy has a password; the storage key is created under an empty owner authorization: %w", where, err)
		}
		return nil, fmt.Errorf("hsm: TPM at %s: create the storage key: %w", where, err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(t, rsp.ObjectHandle)
		return nil, fmt.Errorf("hsm: TPM at %s: storage key: %w", where, err)
	}
	return &primary{handle: rsp.ObjectHandle, name: rsp.Name, public: *pub}, nil
}

func flush(t transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// readPCRs reads the SHA-256 values of pcrs, one at a time (a TPM returns
// at most eight per call).
func readPCRs(t transport.TPM, pcrs []int) ([][]byte, error) {
	values := make([][]byte, 0, len(pcrs))
	for _, p := range pcrs {
		sel := pcrSelection([]int{p})
		rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("hsm: read PCR %d: %w", p, err)
		}
		out := rsp.PCRSelectionOut.PCRSelections
		if len(rsp.PCRValues.Digests) != 1 || len(out) != 1 || out[0].Hash != tpm2.TPMAlgSHA256 ||
			len(rsp.PCRValues.Digests[0].Buffer) != sha256.Size {
			return nil, fmt.Errorf("hsm: read PCR %d: the TPM has no active SHA-256 PCR bank, or no PCR %d", p, p)
		}
		values = append(values, rsp.PCRValues.Digests[0].Buffer)
	}
	return values, nil
}

// comparePCRs names every PCR whose value differs from the sealed one.
func comparePCRs(t transport.TPM, k *tpmKey) error {
	now, err := readPCRs(t, k.file.PCRs)
	if err != nil {
		return err
	}
	var diffs []string
	var which []string
	for i, p := range k.file.PCRs {
		if !bytes.Equal(now[i], k.pcrValues[i]) {
			which = append(which, fmt.Sprint(p))
			diffs = append(diffs, fmt.Sprintf("sealed to %x, now %x", k.pcrValues[i], now[i]))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	var what string
	if len(which) == 1 {
		what = fmt.Sprintf("PCR %s differs (%s)", which[0], diffs[0])
	} else {
		parts := make([]string, len(which))
		for i := range which {
			parts[i] = fmt.Sprintf("PCR %s %s", which[i], diffs[i])
		}
		what = fmt.Sprintf("PCRs %s differ (%s)", strings.Join(which, ", "), strings.Join(parts, "; "))
	}
	return fmt.Errorf("%w: %s; if this follows a planned firmware or Secure Boot change, re-seal from a backup or software sealer: see README", ErrPCRChanged, what)
}

// unsealDataKey loads the sealed object under srk and unseals it in a
// policy session salted with srk whose response parameter (the data key)
// is encrypted.
func unsealDataKey(t transport.TPM, c TPMConfig, k *tpmKey, srk *primary) ([]byte, error) {
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.handle, Name: srk.name, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    k.private,
		InPublic:     k.public,
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCIntegrity) {
			return nil, fmt.Errorf("%w: the TPM (%s) refuses the key file's sealed object: made by another TPM, or damaged: %w", ErrLocked, c.where(), err)
		}
		return nil, fmt.Errorf("%w: TPM at %s: load the sealed data key: %w", ErrLocked, c.where(), err)
	}
	defer flush(t, loaded.ObjectHandle)

	sess, closeSession, err := tpm2.PolicySession(t, tpm2.TPMAlgSHA256, 16,
		tpm2.Salted(srk.handle, srk.public),
		tpm2.AESEncryption(128, tpm2.EncryptOut),
		tpm2.Auth(c.PIN))
	if err != nil {
		return nil, fmt.Errorf("hsm: TPM at %s: start a policy session: %w", c.where(), err)
	}
	defer closeSession()
	_, err = tpm2.PolicyPCR{
		PolicySession: sess.Handle(),
		PcrDigest:     tpm2.TPM2BDigest{Buffer: pcrDigest(k.pcrValues)},
		Pcrs:          pcrSelection(k.file.PCRs),
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCValue) {
			return nil, fmt.Errorf("%w: the TPM refuses the PCR policy: PCRs %s no longer hold their sealed values; if this follows a planned firmware or Secure Boot change, re-seal from a backup or software sealer: see README", ErrPCRChanged, FormatPCRs(k.file.PCRs))
		}
		return nil, fmt.Errorf("hsm: TPM at %s: PolicyPCR: %w", c.where(), err)
	}
	if _, err := (tpm2.PolicyAuthValue{PolicySession: sess.Handle()}).Execute(t); err != nil {
		return nil, fmt.Errorf("hsm: TPM at %s: PolicyAuthValue: %w", c.where(), err)
	}
	rsp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: sess},
	}.Execute(t)
	switch {
	case err == nil:
		return rsp.OutData.Buffer, nil
	case errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		return nil, wrongPIN(t)
	case errors.Is(err, tpm2.TPMRCLockout):
		return nil, lockedOut(t)
	case errors.Is(err, tpm2.TPMRCPolicyFail):
		return nil, fmt.Errorf("%w: the TPM refuses the unseal policy over PCRs %s: %w", ErrPCRChanged, FormatPCRs(k.file.PCRs), err)
	}
	return nil, fmt.Errorf("hsm: TPM at %s: unseal the data key: %w", c.where(), err)
}

// lockoutState reads the dictionary-attack counters: failures so far, the
// failures allowed, and the seconds after which one failure is forgotten.
func lockoutState(t transport.TPM) (counter, maxFail, interval uint32, ok bool) {
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapTPMProperties,
		Property:      uint32(tpm2.TPMPTLockoutCounter),
		PropertyCount: 3,
	}.Execute(t)
	if err != nil {
		return 0, 0, 0, false
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return 0, 0, 0, false
	}
	found := 0
	for _, p := range props.TPMProperty {
		switch p.Property {
		case tpm2.TPMPTLockoutCounter:
			counter, found = p.Value, found+1
		case tpm2.TPMPTMaxAuthFail:
			maxFail, found = p.Value, found+1
		case tpm2.TPMPTLockoutInterval:
			interval, found = p.Value, found+1
		}
	}
	return counter, maxFail, interval, found == 3
}

func minutes(seconds uint32) uint32 { return (seconds + 59) / 60 }

func wrongPIN(t transport.TPM) error {
	counter, maxFail, interval, ok := lockoutState(t)
	switch {
	case !ok:
		return ErrWrongPIN
	case counter >= maxFail:
		return fmt.Errorf("%w; the TPM is now locked out: it takes one more try after %d minutes", ErrWrongPIN, minutes(interval))
	}
	return fmt.Errorf("%w; %d more failures lock the TPM out for %d minutes", ErrWrongPIN, maxFail-counter, minutes(interval))
}

func lockedOut(t transport.TPM) error {
	if _, _, interval, ok := lockoutState(t); ok {
		return fmt.Errorf("%w; it takes one more try after at most %d minutes (or clear the lockout with the TPM's lockout authorization)", ErrTPMLockout, minutes(interval))
	}
	return ErrTPMLockout
}
