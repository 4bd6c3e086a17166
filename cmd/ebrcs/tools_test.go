package main

import (
	"testing"

	"github.com/ebrcs/ebrcs/internal/doctor"
	"github.com/ebrcs/ebrcs/models"
)

// The doctor, below package models, names the default model's file itself: both must agree.
func TestDoctorChecksTheDefaultModel(t *testing.T) {
	if doctor.DefaultModel != models.DefaultModelFile {
		t.Fatalf("doctor checks %s, the default model is %s", doctor.DefaultModel, models.DefaultModelFile)
	}
}
