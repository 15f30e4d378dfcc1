package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
)

// Witnesses opens the configured witness buckets with their public keys,
// as verify reads them: each through ac's credentials (or the witness's
// own profile, or a role assumed for it), in the witness's region and at
// its endpoint (else the store's S3 endpoint settings).
func Witnesses(ac awsclient.Config, cfg config.Config) ([]*custody.S3Witness, error) {
	var out []*custody.S3Witness
	for i, w := range cfg.Witnesses {
		pub, err := custody.LoadWitnessPublic(w)
		if err != nil {
			return nil, fmt.Errorf("witnesses[%d]: %w", i, err)
		}
		c := ac
		switch {
		case w.Profile != "":
			// Reading the shared configuration files needs no network.
			if c, err = awsclient.Load(context.Background(), awsclient.Options{Profile: w.Profile, Region: ac.AWS.Region, S3Endpoint: cfg.Store.Endpoint}); err != nil {
				return nil, fmt.Errorf("witnesses[%d] (%s): profile %s: %w", i, w.Name, w.Profile, err)
			}
		case w.RoleARN != "":
			c = ac.AssumeRole(w.RoleARN, w.ExternalID, awsclient.SessionName("witness", cfg.Agent.Stream))
		}
		if w.Region != "" {
			c = c.WithRegion(w.Region)
		}
		api := c.S3(func(o *s3.Options) {
			if w.Endpoint != "" {
				o.BaseEndpoint, o.UsePathStyle = aws.String(w.Endpoint), true
			}
		})
		out = append(out, custody.NewS3Witness(api, w, pub))
	}
	return out, nil
}

// cosigningWitnesses are the witnesses whose private keys are configured
// here, ready to cosign the checkpoints signer signs; a witness without
// its key is noted on stderr and left out (its copies go unwritten).
func cosigningWitnesses(ac awsclient.Config, cfg config.Config, signer custody.Signer, now func() time.Time, getenv func(string) string, stderr io.Writer) ([]custody.Cosigner, error) {
	ws, err := Witnesses(ac, cfg)
	if err != nil {
		return nil, err
	}
	pub, err := signer.PublicKey()
	if err != nil {
		return nil, err
	}
	own, err := custody.NewTrustedKey("signer", pub, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	var out []custody.Cosigner
	for i, w := range ws {
		if cfg.Witnesses[i].Key == "" {
			fmt.Fprintf(stderr, "warning: witness %s has no key here (witnesses[%d].key): this host's checkpoints go uncosigned by it\n", w.Name(), i)
			continue
		}
		priv, err := custody.LoadWitnessKey(cfg.Witnesses[i], getenv)
		if err != nil {
			return nil, fmt.Errorf("witnesses[%d]: %w", i, err)
		}
		cw, err := w.WithKey(priv, []custody.TrustedKey{own}, now)
		if err != nil {
			return nil, fmt.Errorf("witnesses[%d]: %w", i, err)
		}
		out = append(out, cw)
	}
	return out, nil
}
